"""`make evidence ENV=... SINCE=YYYY-MM-DD [UNTIL=...]`: the signed evidence bundle of an audit period,
and `make evidence-verify BUNDLE=...`, which refuses a bundle with any added, removed or changed file."""
