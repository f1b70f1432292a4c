#!/usr/bin/env bash
# Usage: ensure-system-deps.sh bench|test
# bench: Java 17 and Maven (Cassandra 5.0 runs on Java 17; Maven resolves it), Prometheus with
# its node exporter (monitoring; the plugin starts its own processes).
# test: those, and HdrHistogram's Java tools (the reference of our percentiles), OpenSSH's
# server (the SSH executor's integration tests run sshd in network namespaces) and Chromium
# (the report's browser test renders the HTML report headless).
# On Debian, as root, installs the missing ones; elsewhere says what to install.
set -euo pipefail

mode=${1:-test}
case "$mode" in
  bench|test) ;;
  *) echo "usage: $0 bench|test" >&2; exit 2 ;;
esac

need=()
java17=""
for candidate in "${JAVA_HOME:-}/bin/java" /usr/lib/jvm/java-17-openjdk-amd64/bin/java \
                 /usr/lib/jvm/java-17-openjdk-arm64/bin/java "$(command -v java || true)"; do
  if [ -x "$candidate" ] && "$candidate" -version 2>&1 | grep -q 'version "17'; then
    java17=$candidate
    break
  fi
done
[ -n "$java17" ] || need+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
sshd_missing=""
if [ "$mode" = test ]; then
  # HdrHistogram's Java tools: the reference our merged percentiles are tested against.
  [ -f /usr/share/java/hdrhistogram.jar ] || need+=(libhdrhistogram-java)
  # sshd for the SSH test bed; the tests start their own, so Debian's service must not run.
  [ -x /usr/sbin/sshd ] || { need+=(openssh-server); sshd_missing=1; }
  # Headless Chromium renders the HTML report offline (screenshot, DOM) in its browser test.
  [ -x /usr/bin/chromium ] || need+=(chromium)
fi
# Prometheus and its node exporter: the plugin starts its own, so Debian's services must not run.
monitor_missing=()
[ -x /usr/bin/prometheus ] || monitor_missing+=(prometheus)
[ -x /usr/bin/prometheus-node-exporter ] || monitor_missing+=(prometheus-node-exporter)

if [ ${#need[@]} -eq 0 ] && [ ${#monitor_missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${need[*]} ${monitor_missing[*]} from Debian's packages"
  apt-get update -qq
  if [ ${#need[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  fi
  if [ ${#monitor_missing[@]} -gt 0 ]; then
    # Without recommends: no dbus, no textfile-collector timers.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${monitor_missing[@]}"
    # The packages enable (and may start) their services; only our own processes are used.
    if command -v systemctl >/dev/null 2>&1; then
      systemctl disable prometheus.service prometheus-node-exporter.service >/dev/null 2>&1 || true
      if [ -d /run/systemd/system ]; then
        systemctl stop prometheus.service prometheus-node-exporter.service >/dev/null 2>&1 || true
      fi
    fi
    for service in prometheus prometheus-node-exporter; do
      if [ -f "/run/prometheus/$service.pid" ]; then
        kill "$(cat "/run/prometheus/$service.pid")" 2>/dev/null || true
      fi
      if command -v update-rc.d >/dev/null 2>&1 && [ -f "/etc/init.d/$service" ]; then
        update-rc.d "$service" disable >/dev/null 2>&1 || true
      fi
    done
  fi
  if [ -n "$sshd_missing" ]; then
    # The package enables (and may start) its service; only the test bed's own sshds are used.
    if command -v systemctl >/dev/null 2>&1; then
      systemctl disable ssh.service ssh.socket >/dev/null 2>&1 || true
      if [ -d /run/systemd/system ]; then
        systemctl stop ssh.service ssh.socket >/dev/null 2>&1 || true
      fi
    fi
    if [ -f /run/sshd.pid ]; then
      kill "$(cat /run/sshd.pid)" 2>/dev/null || true
    fi
  fi
else
  echo "make $mode needs these Debian packages: ${need[*]} ${monitor_missing[*]};" \
       "install them (as root: apt-get install ...) and rerun" >&2
  exit 1
fi
