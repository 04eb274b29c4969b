"""Tracking links for the carriers our warehouses ship with, when the ERP gives none."""

from __future__ import annotations

from urllib.parse import quote

# Carrier name as the ERP spells it (lower-cased) -> the carrier's public tracking page.
TRACKING_PAGES = {
    "dhl": "https://www.dhl.com/global-en/home/tracking.html?tracking-id={number}",
    "dpd": "https://tracking.dpd.de/status/en_US/parcel/{number}",
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={number}",
    "gls": "https://gls-group.com/track/{number}",
    "la poste": "https://www.laposte.fr/outils/suivre-vos-envois?code={number}",
    "colissimo": "https://www.laposte.fr/outils/suivre-vos-envois?code={number}",
    "postnl": "https://postnl.nl/tracktrace/?B={number}",
    "royal mail": "https://www.royalmail.com/track-your-item#/tracking-results/{number}",
    "ups": "https://www.ups.com/track?tracknum={number}",
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={number}",
}


def tracking_link(carrier: str | None, number: str | None, given: str | None) -> str | None:
    """The ERP's own tracking URL if it has one (https only), else the carrier's page."""
    if given and given.startswith("https://"):
        return given
    if not (carrier and number):
        return None
    page = TRACKING_PAGES.get(carrier.strip().lower())
    return page.format(number=quote(number.strip(), safe="")) if page else None
