# U-Boot script (compiled to boot.scr by tools/vetted-image.sh sdcard): load the Microkit
# loader image at its link address (0x10000000 for rpi4b_*) and start it.
echo "vetted: loading Microkit image"
fatload ${devtype} ${devnum}:${distro_bootpart} 0x10000000 loader.img
go 0x10000000
