"""Registers the aarya-chaos pytest plugins: the engine (options, markers, the `stack` and `chaos` fixtures),
the end-of-run reports (HTML, incident reports, trends) and the allure steps (with --alluredir)."""

pytest_plugins = ["fixtures.plugin", "reports.report_plugin", "reports.allure_plugin"]
