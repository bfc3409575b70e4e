#!/bin/sh
# The node VM's read-only probe (one command per TCP connection, see start.sh): lets the suite look at the node
# itself — cgroup files and directories, systemd units, crimux's logs — without going through crimux. Arguments are
# checked against narrow patterns; nothing here writes.
read -r cmd arg || exit 0
cgpath() {
  case $1 in
    /sys/fs/cgroup/* | /sys/fs/cgroup) ;;
    *) echo "probe: path outside /sys/fs/cgroup"; exit 1 ;;
  esac
  case $1 in *..* | *[!A-Za-z0-9_.:@/-]*) echo "probe: bad path"; exit 1 ;; esac
}
case $cmd in
  info)
    echo "fs=$(stat -fc %T /sys/fs/cgroup) pid1=$(cat /proc/1/comm) kernel=$(uname -r)"
    echo "runc=$(runc --version | head -1)"
    echo "conmon=$(conmon --version | head -1)"
    echo "nspawn=$(systemd-nspawn --version | head -1)"
    ;;
  cat) cgpath "$arg"; cat "$arg" 2>&1 ;;
  exists) cgpath "$arg"; if [ -e "$arg" ]; then echo yes; else echo no; fi ;;
  find)
    case $arg in '' | *[!A-Za-z0-9_.-]*) echo "probe: bad name"; exit 1 ;; esac
    find /sys/fs/cgroup -type d -name "*$arg*" 2>/dev/null | sort
    ;;
  tree) cgpath "$arg"; find "$arg" -type d 2>/dev/null | sort ;;
  unit)
    case $arg in '' | *[!A-Za-z0-9_.:@-]*) echo "probe: bad unit"; exit 1 ;; esac
    systemctl show -p ActiveState -p LoadState -p Result -p ControlGroup "$arg" 2>&1
    ;;
  log)
    case $arg in cgroupfs | systemd) tail -n 150 "/var/log/crimux-$arg.log" 2>&1 ;; *) echo "probe: bad log"; exit 1 ;; esac
    ;;
  problems)
    case $arg in cgroupfs | systemd) grep -E 'level=(warn|error)' "/var/log/crimux-$arg.log" ;; *) echo "probe: bad log"; exit 1 ;; esac
    ;;
  *) echo "probe: unknown command $cmd"; exit 1 ;;
esac
