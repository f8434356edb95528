"""aarya-chaos: the Aarya Clothing runbook, made executable."""
