#!/usr/bin/env bash
# Alertmanager configuration test: `amtool check-config` on infra/alertmanager/alertmanager.yml,
# then `amtool config routes test` for every alert rule of infra/prometheus/aos-alerts.yml and
# aos-slo.yml (each severity it is declared with) and for alerts outside those files, asserting
# that each lands on the receiver its team and severity call for (docs/slo.md, "Alert routes").
# Needs amtool (Debian's prometheus-alertmanager; tests/run.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/../.."
config=infra/alertmanager/alertmanager.yml
amtool check-config "$config"

# The receiver the routing table of docs/slo.md gives a team and a severity.
expected() {
  local team=$1 severity=$2
  case "$team/$severity" in
    catalog/page | catalog/critical) echo catalog-pager ;;
    catalog/*) echo catalog-tickets ;;
    */page | */critical) echo platform-pager ;;
    *) echo platform-tickets ;;
  esac
}

passed=0 failed=0
check() { # receiver label=value...
  local want=$1 got
  shift
  got=$(amtool config routes test --config.file="$config" "$@" 2>/dev/null | tail -n 1)
  if [ "$got" = "$want" ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAILED: {$*} went to '$got', expected '$want'" >&2
  fi
}

# Every alerting rule: its name, severity and team, as the rule files declare them (the labels
# block follows `- alert:`; a rule without a team label is tested as such).
rules=$(awk '
  /^ *- alert: / { if (name != "") print name, sev, team; name = $3; sev = ""; team = "" }
  /^ *- record: / { if (name != "") print name, sev, team; name = "" }
  name != "" && /^ +severity: / { sev = $2 }
  name != "" && /^ +team: / { team = $2 }
  END { if (name != "") print name, sev, team }
' infra/prometheus/aos-alerts.yml infra/prometheus/aos-slo.yml)
count=$(printf '%s\n' "$rules" | grep -c .)
if [ "$count" -lt 13 ]; then
  echo "FAILED: found only $count alerting rules in infra/prometheus (expected at least 13)" >&2
  exit 1
fi
while read -r name severity team; do
  [ -n "$severity" ] || { echo "FAILED: $name has no severity label" >&2; failed=$((failed + 1)); continue; }
  [ -n "$team" ] || { echo "FAILED: $name has no team label" >&2; failed=$((failed + 1)); continue; }
  check "$(expected "$team" "$severity")" alertname="$name" severity="$severity" team="$team" job=aos
done <<< "$rules"

# Alerts of other rule files: routed by severity alone, to the platform.
check platform-pager alertname=NodeDown severity=critical job=node
check platform-tickets alertname=DiskFilling severity=warning job=node
check platform-tickets alertname=Unlabelled job=node
check platform-pager alertname=Other severity=page team=someone-else
# A catalog alert that pages (none today) reaches the catalog's pager, not the platform's.
check catalog-pager alertname=CatalogOutage severity=page team=catalog

echo "alertmanager routes: $passed passed, $failed failed ($count alerting rules)"
[ "$failed" -eq 0 ]
