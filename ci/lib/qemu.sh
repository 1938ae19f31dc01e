# Sourced by area scripts that need QEMU system emulators.
#
# qemu_packages PKG...: print the Debian package names for the QEMU system
# packages PKG (e.g. qemu-system-x86, qemu-system-arm). The machine image
# carries qemu-utils from bookworm-backports, which conflicts with
# bookworm's own QEMU 7.2 packages: then every QEMU package, with the
# common and data packages they share, is taken from backports (run.sh adds
# the suite when a name ends in /bookworm-backports).
qemu_packages() {
    local p
    for p in "$@"; do
        if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            echo "$p"
        elif dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null | grep -q bpo; then
            echo "$p/bookworm-backports"
            echo qemu-system-common/bookworm-backports
            echo qemu-system-data/bookworm-backports
        else
            echo "$p"
        fi
    done
}
