#!/usr/bin/env bash
# Installs what the tests need on a bare Debian machine: the real restic
# (interop is tested against it), attr (xattr tools for fixtures),
# Prometheus's promtool and Pushgateway (metrics tests), fuse3
# (fusermount3, for the real FUSE tests of `cairn mount`), and
# cargo-fuzz for the fuzz smoke runs; optionally (see below) rustic.
# Safe to run again.
set -euo pipefail
need=()
command -v restic >/dev/null || need+=(restic)
command -v setfattr >/dev/null || need+=(attr)
command -v rclone >/dev/null || need+=(rclone)
command -v curl >/dev/null || need+=(curl)
command -v setpriv >/dev/null || need+=(util-linux)
command -v fusermount3 >/dev/null || need+=(fuse3)
[ -x /usr/sbin/sshd ] && command -v ssh-keygen >/dev/null || need+=(openssh-server openssh-client)
# promtool validates the metrics files and alert rules; a real Pushgateway
# receives `--metrics-push` (crates/cairn-cli/tests/metrics_file.rs).
command -v promtool >/dev/null || need+=(prometheus)
command -v prometheus-pushgateway >/dev/null || need+=(prometheus-pushgateway)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-deps: need root to apt-get install ${need[*]}" >&2
        exit 1
    fi
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}"
fi
command -v moto_server >/dev/null || pip install 'moto[server]' || pip install --break-system-packages 'moto[server]'
# Two real restic wrappers, run against cairn by
# crates/cairn-cli/tests/restic_wrappers.rs (pinned: their parsing is what
# is tested).
python3 -c 'import restic, runrestic' 2>/dev/null ||
    pip install 'resticpy==1.3.0' 'runrestic==0.5.31' ||
    pip install --break-system-packages 'resticpy==1.3.0' 'runrestic==0.5.31'
# rustic 0.11.4, the other program that writes restic repositories:
# crates/cairn-cli/tests/rustic_interop.rs checks it both ways (rustic
# reads and checks what Cairn wrote). scripts/test.sh sets
# CAIRN_REQUIRE_RUSTIC=1 so those tests fail rather than skip without it.
# A release build from source: about 10-13 minutes on 2 cores, inside the
# CI budget. CAIRN_SKIP_RUSTIC=1 skips it when iterating locally.
RUSTIC_VERSION=0.11.4
if [ "${CAIRN_SKIP_RUSTIC:-0}" != 1 ] &&
    ! rustic --version 2>/dev/null | grep -qx "rustic $RUSTIC_VERSION"; then
    cargo install rustic-rs --version "$RUSTIC_VERSION" --no-default-features --locked
fi
restic version
