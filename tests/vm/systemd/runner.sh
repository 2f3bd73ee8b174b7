#!/bin/bash
# The job's commands under systemd (init's systemd mode, started by vmtest-runner.service):
# runs $VM_JOB/t/<n>.sh in order, each as root with a $VMTEST_TIMEOUT s limit, and reports them
# as init does in its chroot mode, so run.sh reads the verdicts the same way:
#   console:    "VMTEST-RESULT <n> PASS|FAIL rc=<status> <command>", then "VMTEST-SUMMARY ..."
#   job folder: t/<n>.log, results, summary (written last). Then powers the guest off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp
echo "VMTEST: systemd $(systemctl show -P Version) up at uptime $(cut -d' ' -f1 /proc/uptime) s"
cd "$VM_JOB" || exit 1
passed=0 failed=0 n=0
: >results
while IFS= read -r cmd || [[ -n $cmd ]]; do
    n=$((n + 1))
    echo "VMTEST: RUN $n $cmd"
    timeout -k 5 "$VMTEST_TIMEOUT" /bin/bash "t/$n.sh" </dev/null >"t/$n.log" 2>&1
    rc=$?
    cat "t/$n.log"
    if ((rc == 0)); then
        passed=$((passed + 1)) verdict=PASS
    else
        failed=$((failed + 1)) verdict=FAIL
    fi
    echo "VMTEST-RESULT $n $verdict rc=$rc $cmd"
    echo "$n $verdict rc=$rc $cmd" >>results
done <tests
echo "VMTEST-SUMMARY passed=$passed failed=$failed uptime=$(cut -d' ' -f1 /proc/uptime)"
echo "passed=$passed failed=$failed" >summary
sync
systemctl poweroff
