#!/usr/bin/env bash
# Debian packages the dr-console lab needs (Debian 12, as root). Idempotent:
# when everything is installed already it touches nothing and needs no root.
set -euo pipefail

PACKAGES=(
  # OpenStack "Zed" control plane, run as plain processes (see docs/lab.md)
  keystone glance-api cinder-api cinder-volume cinder-scheduler cinder-backup
  nova-api nova-conductor nova-scheduler placement-api python3-nova
  rabbitmq-server dmidecode uwsgi uwsgi-plugin-python3
  # the rest of the lab
  mariadb-server mariadb-client openssh-server openssh-client
  dnsmasq-base chrony git python3-venv
  # the restore bench's baseline: `/usr/bin/aws s3 cp … - | gunzip | mariadb`
  awscli
  # payload volumes: real filesystems on loop devices inside a lab host
  xfsprogs e2fsprogs util-linux
  # the boot network: namespaces, its offline apt repository (indexed and
  # signed here), and the probe client's DHCP, TFTP/FTP and NTP tools
  iproute2 apt-utils gnupg busybox curl ntpsec-ntpdig
)

POLICY_RC=/usr/sbin/policy-rc.d
# Packages must not start their daemons: the lab runs its own, on loopback.
POLICY_RC_BODY=$'#!/bin/sh\n# dr-console lab: never start services from maintainer scripts\nexit 101'

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "installed" ]] || missing+=("$pkg")
done

policy_ok=false
if [[ -x "$POLICY_RC" ]] && { "$POLICY_RC" x start >/dev/null 2>&1; [[ $? -eq 101 ]]; }; then
  policy_ok=true
fi

if [[ ${#missing[@]} -eq 0 ]] && $policy_ok; then
  echo "system dependencies: all ${#PACKAGES[@]} packages installed"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-system-deps: run as root to install: ${missing[*]:-policy-rc.d}" >&2
  exit 1
fi

if ! $policy_ok; then
  printf '%s\n' "$POLICY_RC_BODY" > "$POLICY_RC"
  chmod 0755 "$POLICY_RC"
  echo "wrote $POLICY_RC (exit 101)"
fi

if [[ ${#missing[@]} -gt 0 ]]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update
  apt-get install -y -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}"
fi
