#!/bin/bash
# deb-check.sh PACKAGE.deb: installs the package on a bare Debian (a throw-away overlay of the
# chroot base ../shared/tools/fresh-machine.sh keeps in /var/tmp/fresh-base, debootstrap minbase)
# and checks what a user expects: `loops --version`, `man loops`, `man loops-mount`, bash
# completion of `loops mount <TAB>` (man-db and bash-completion are installed first: a bare
# machine has neither), then that `dpkg -r loops` leaves nothing behind. Needs root.
set -u
deb=$(readlink -f "${1:?usage: deb-check.sh PACKAGE.deb}")
[[ -f $deb ]] || { echo "deb-check: no $1 (make deb)"; exit 2; }
[[ $(id -u) == 0 ]] || { echo "deb-check: needs root (chroot, mounts)"; exit 2; }
BASE=/var/tmp/fresh-base
[[ -x $BASE/bin/bash ]] || { echo "deb-check: no chroot base in $BASE: run ../shared/tools/fresh-machine.sh once"; exit 2; }
R=$(mktemp -d /var/tmp/deb-check.XXXXXX)
mkdir -p $R/upper $R/work $R/root
mount -t overlay overlay -o lowerdir=$BASE,upperdir=$R/upper,workdir=$R/work $R/root || exit 2
undo() {
  for m in $(awk '{print $5}' /proc/self/mountinfo | grep "^$R/root/" | sort -r); do umount -l "$m" 2>/dev/null; done
  umount -l $R/root 2>/dev/null; rm -rf $R
}
trap undo EXIT
for d in dev dev/pts proc sys; do mount --rbind /$d $R/root/$d; done
cp /etc/resolv.conf $R/root/etc/resolv.conf
cp /etc/ssl/certs/ca-certificates.crt $R/root/etc/ssl/certs/ca-certificates.crt 2>/dev/null
cp -r /etc/apt/apt.conf.d/. $R/root/etc/apt/apt.conf.d/ 2>/dev/null
cp "$deb" $R/root/tmp/
chroot $R/root /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin TERM=dumb DEB=/tmp/$(basename "$deb") bash -s <<'CHECK'
set -u
fail=0
check() { local what=$1; shift; if "$@"; then echo "ok    $what"; else echo "FAIL  $what"; fail=1; fi; }
echo "== the tools a user has for man and <TAB> (not loops' dependencies)"
apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends man-db bash-completion >/dev/null || { echo "apt-get failed"; exit 2; }
snapshot() { find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /tmp -o -path /run -o -path /var/cache/man -o -path /var/cache/debconf -o -path /var/log \) -prune -o -print | sort; }
snapshot > /tmp/before
echo "== dpkg -i $DEB"
dpkg -i "$DEB" || exit 1
dpkg-query -W -f='${Package} ${Version} ${Status}\n' loops
check "loops --version prints version, commit and Go" bash -c 'loops --version | tee /dev/stderr | grep -q "^loops version " && loops --version | grep -q "^commit: [0-9a-f]" && loops --version | grep -q "^go: go1"'
check "loops runs with no library (static)" bash -c '! ldd /usr/bin/loops 2>/dev/null | grep -q "=>"'
check "loops finds its FUSE server, /usr/lib/loops/loops-serve" bash -c 'test -x /usr/lib/loops/loops-serve && loops __serve --help >/dev/null 2>&1'
check "man loops" bash -c 'man -P cat loops 2>/dev/null | grep -Eq "^ *loops +- Inspect and use the three"'
check "man loops-mount" bash -c 'man -P cat loops-mount 2>/dev/null | grep -Eq "^ *loops-mount +- "'
mkdir -p /tmp/tab/sub && cd /tmp/tab && touch disk.iso image.img notes.txt
cat > /tmp/complete.sh <<'EOS'
source /usr/share/bash-completion/bash_completion
cd /tmp/tab
__load_completion loops || exit 3
COMP_LINE="loops mount "; COMP_POINT=${#COMP_LINE}; COMP_WORDS=(loops mount ""); COMP_CWORD=2
fn=$(complete -p loops | sed -E 's/.*-F ([^ ]+).*/\1/')
$fn loops "" mount
printf '%s\n' "${COMPREPLY[@]}" | sort
EOS
echo "== bash completion of 'loops mount <TAB>' in a directory with disk.iso image.img notes.txt sub/:"
bash /tmp/complete.sh | tee /tmp/tab.out
check "completion offers the images and the directory, not notes.txt" bash -c 'grep -qx disk.iso /tmp/tab.out && grep -qx image.img /tmp/tab.out && grep -q "^sub" /tmp/tab.out && ! grep -q notes.txt /tmp/tab.out'
echo "== dpkg -r loops"
dpkg -r loops >/dev/null || fail=1
snapshot > /tmp/after
check "dpkg -r leaves no file or directory behind" diff /tmp/before /tmp/after
check "dpkg knows no loops any more" bash -c '! dpkg-query -W -f="\${Status}" loops 2>/dev/null | grep -q "installed\|config-files"'
check "no loops file in dpkg's database" bash -c '! ls /var/lib/dpkg/info/loops.* 2>/dev/null'
exit $fail
CHECK
rc=$?
echo "deb-check: $( ((rc == 0)) && echo PASS || echo FAIL ) ($(basename "$deb"))"
exit $rc
