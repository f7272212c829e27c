#!/bin/sh
# Installs what petrel needs to build and test on Debian 12.
# Every package comes from Debian; nothing is downloaded from elsewhere.
set -eu
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: run as root (it calls apt-get)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends \
	build-essential clang libclang-rt-14-dev meson ninja-build pkg-config \
	libssl-dev libevent-dev libnl-3-dev libnl-route-3-dev zlib1g-dev \
	libcmocka-dev libseccomp-dev python3 python3-pytest python3-cryptography \
	iproute2 procps
# The real monitoring servers the petrel-stats tests talk to.
apt-get install -y --no-install-recommends prometheus influxdb
# The packaging tests: the .deb (dpkg-buildpackage, lintian), the units
# (systemd-analyze), the man pages (mandoc, man) and the completion.
apt-get install -y --no-install-recommends \
	debhelper dpkg-dev fakeroot lintian systemd mandoc man-db \
	bash-completion
