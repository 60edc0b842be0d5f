#!/usr/bin/env bash
# The figures docs/faults.md records for a long form of the randomized
# schedules, read from its log (scripts/nemesis-long.sh names it):
#   scripts/nemesis-stats.sh /var/tmp/rustpg-nemesis-SEED.log
set -u
L=${1:?usage: $0 LOG}
echo "passed $(grep -c ': passed in ' $L)"
grep -o "all [0-9]* acknowledged ids present" $L | awk '{s+=$2} END {print "acked", s, "checks", NR}'
grep -o "[0-9]* samples, [0-9]* with two writable primaries" $L | awk '{s+=$1; t+=$3} END {print "samples", s, "two", t}'
grep -o "passed in [0-9]*s" $L | awk '{print $3+0}' | sort -n | awk '{a[NR]=$1; s+=$1} END {print "n", NR, "median", a[int((NR+1)/2)], "mean", int(s/NR), "max", a[NR], "sum", s}'
grep -o "[0-9]* fencing actions" $L | awk '{s+=$1; if($1>0)n++} END {print "fencing", s, "in", n}'
grep -o "impatient writer.*lost" $L | awk -F'[ ,]+' '{for(i=1;i<=NF;i++){if($i=="commits")c+=$(i-1); if($i=="of" && $(i+1)=="them")w+=$(i-1); if($i=="lost")l+=$(i-1)}} END {print "impatient", c, "cancelled", w, "lost", l}'
grep -o "\]: [a-z -]*[0-9]*[^;]*(landed)" $L | sed -E 's/pg0[0-9]/N/g; s/[0-9]+ ?m?s/T/g; s/pid [0-9]+/pid/g' | sort | uniq -c | sort -rn
echo "stepped in: $(grep -c ': the operator stepped in: ' $L)  NOT RUN: $(grep -c 'NOT RUN' $L)"
grep "nemesis: " $L | tail -2
