# vetted: U-Boot boot script for the Raspberry Pi 4 SD card, compiled to boot.scr with
#   mkimage -A arm64 -O linux -T script -C none -n "vetted microkit boot" -d boot.cmd boot.scr
# U-Boot's distro boot finds boot.scr on the FAT partition and runs it with devtype, devnum and
# distro_bootpart set to that partition. @IMAGE@ and @LOAD_ADDR@ are filled in by vetted-sdcard:
# the Microkit loader image is a raw binary linked to run at @LOAD_ADDR@ (the loader ELF's
# entry point, the address the Microkit manual gives for the Pi 4).
echo "vetted: loading @IMAGE@ (@BOARD@) from ${devtype} ${devnum}:${distro_bootpart} to @LOAD_ADDR@"
if fatload ${devtype} ${devnum}:${distro_bootpart} @LOAD_ADDR@ @IMAGE@; then
  echo "vetted: starting the Microkit loader at @LOAD_ADDR@"
  go @LOAD_ADDR@
else
  echo "vetted: could not read @IMAGE@ from the boot partition"
fi
