"""Network filters of the hardening role (no netaddr needed: Python's ipaddress)."""

import ipaddress


def hardening_bad_cidrs(values):
    """Return the entries of a list that are not IPv4/IPv6 networks in CIDR form."""
    bad = []
    for value in values:
        try:
            ipaddress.ip_network(str(value), strict=True)
        except ValueError:
            bad.append(value)
    return bad


def hardening_cidrs_of_family(values, family):
    """Return the CIDRs of one address family (4 or 6), normalised."""
    return [
        str(ipaddress.ip_network(str(v), strict=True))
        for v in values
        if ipaddress.ip_network(str(v), strict=True).version == int(family)
    ]


class FilterModule:
    def filters(self):
        return {
            "hardening_bad_cidrs": hardening_bad_cidrs,
            "hardening_cidrs_of_family": hardening_cidrs_of_family,
        }
