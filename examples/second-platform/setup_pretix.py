"""One-time setup of the pretix second platform, idempotent: run it again and nothing changes.

Run with pretix's own interpreter, with PRETIX_CONFIG_FILE pointing at the rendered pretix.cfg:

    PRETIX_CONFIG_FILE=/path/pretix.cfg python setup_pretix.py            # migrate + fixtures
    PRETIX_CONFIG_FILE=/path/pretix.cfg python setup_pretix.py --no-migrate

It runs `migrate` (pretix's schema; about 2-3 minutes the first time on 2 cores, seconds afterwards),
then makes, if missing:

  organizer  slug AARYA_ORGANIZER (default "aarya")
  event      slug AARYA_EVENT (default "chaos"), live, no test mode, EUR, payment provider "manual" on
  item       "Ticket", 10.00 EUR, admission
  quota      "Ticket quota", size AARYA_QUOTA_SIZE (default 10_000_000, so load never sells out)
  team       "aarya-chaos API" with all event + organizer permissions on all events
  API token  the value of AARYA_API_TOKEN if set (so a compose file can know it in advance), else a
             generated one; the token is printed on the last line as `token=<value>`

and prints the ids the journeys need (item id) as `key=value` lines.
"""

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pretix.settings")

import django  # noqa: E402

django.setup()

from datetime import timedelta  # noqa: E402
from decimal import Decimal  # noqa: E402

from django.core.management import call_command  # noqa: E402
from django.utils.timezone import now  # noqa: E402
from django_scopes import scopes_disabled  # noqa: E402

ORGANIZER = os.environ.get("AARYA_ORGANIZER", "aarya")
EVENT = os.environ.get("AARYA_EVENT", "chaos")
QUOTA_SIZE = int(os.environ.get("AARYA_QUOTA_SIZE", "10000000"))
TOKEN = os.environ.get("AARYA_API_TOKEN") or None


def main(migrate: bool) -> None:
    if migrate:
        call_command("migrate", interactive=False, verbosity=0)

    from pretix.base.models import Event, Item, Organizer, Quota, Team, TeamAPIToken

    with scopes_disabled():
        org, _ = Organizer.objects.get_or_create(slug=ORGANIZER, defaults={"name": "aarya-chaos"})
        ev = Event.objects.filter(organizer=org, slug=EVENT).first()
        if ev is None:
            ev = Event.objects.create(
                organizer=org, slug=EVENT, name="aarya-chaos load event", currency="EUR",
                date_from=now() + timedelta(days=3650), live=True, testmode=False,
            )
            ev.set_defaults()
        # manual (bank-transfer-like) payment: pending orders need no external provider
        ev.settings.set("payment_manual__enabled", True)
        ev.settings.set("payment_manual_public_name", "Manual")
        # no mail server in the chaos stack: never send order mails
        ev.settings.set("mail_send_order_placed", False)
        ev.settings.set("mail_send_order_paid", False)

        item = None
        for it in Item.objects.filter(event=ev):
            if str(it.name) == "Ticket":
                item = it
                break
        if item is None:
            item = Item.objects.create(event=ev, name="Ticket", default_price=Decimal("10.00"),
                                       admission=True, active=True)
        quota = None
        for q in Quota.objects.filter(event=ev):
            if q.name == "Ticket quota":
                quota = q
                break
        if quota is None:
            quota = Quota.objects.create(event=ev, name="Ticket quota", size=QUOTA_SIZE)
        elif quota.size != QUOTA_SIZE:
            quota.size = QUOTA_SIZE
            quota.save(update_fields=["size"])
        quota.items.add(item)

        team, _ = Team.objects.get_or_create(
            organizer=org, name="aarya-chaos API",
            defaults={"all_events": True, "all_event_permissions": True, "all_organizer_permissions": True},
        )
        tok = None
        if TOKEN:
            tok = TeamAPIToken.objects.filter(team=team, token=TOKEN).first()
            if tok is None:
                tok = TeamAPIToken.objects.create(team=team, name="aarya-chaos", token=TOKEN)
        else:
            tok = TeamAPIToken.objects.filter(team=team, name="aarya-chaos", active=True).first()
            if tok is None:
                tok = TeamAPIToken.objects.create(team=team, name="aarya-chaos")

        print(f"organizer={org.slug}")
        print(f"event={ev.slug}")
        print(f"item={item.pk}")
        print(f"quota={quota.pk}")
        print(f"token={tok.token}")


if __name__ == "__main__":
    main(migrate="--no-migrate" not in sys.argv[1:])
