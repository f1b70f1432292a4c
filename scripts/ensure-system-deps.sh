#!/usr/bin/env bash
# Make sure Java 17 and Maven are installed (Cassandra 5.0 runs on Java 17; Maven resolves it),
# and OpenSSH's server (the SSH executor's integration tests run sshd in network namespaces).
# On Debian, as root, installs the missing ones; elsewhere says what to install.
set -euo pipefail

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
# HdrHistogram's Java tools: the reference our merged percentiles are tested against.
[ -f /usr/share/java/hdrhistogram.jar ] || need+=(libhdrhistogram-java)
# sshd for the SSH test bed; the tests start their own, so Debian's service must not run.
sshd_missing=""
[ -x /usr/sbin/sshd ] || { need+=(openssh-server); sshd_missing=1; }

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${need[*]} from Debian's packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
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
  echo "pytest-scyllabench needs: ${need[*]} (Java 17, Maven, OpenSSH server); install them and rerun" >&2
  exit 1
fi
