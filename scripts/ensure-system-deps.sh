#!/usr/bin/env bash
# Make sure Java 17 and Maven are installed (Cassandra 5.0 runs on Java 17; Maven resolves it).
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

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${need[*]} from Debian's packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
else
  echo "pytest-scyllabench needs: ${need[*]} (Java 17 and Maven); install them and rerun" >&2
  exit 1
fi
