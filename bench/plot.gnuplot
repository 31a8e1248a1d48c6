# SPDX-License-Identifier: BSL-1.0
# bench/plot.gnuplot - turns venom_bench's CSV (--csv FILE) into PNG charts.
#
#   venom_bench --csv bench.csv
#   gnuplot -e "csv='bench.csv'; outdir='doc'" bench/plot.gnuplot
#
# Writes <outdir>/bench_latency.png (round-trip and update latency percentiles per mechanism),
# <outdir>/bench_bandwidth.png (read_data / write_data against memcpy, by state size) and
# <outdir>/bench_throughput.png (requests/s against the number of shells).
# Needs gnuplot 5 with the pngcairo terminal (Debian: gnuplot-nox).

if (!exists("csv")) csv = "venom_bench.csv"
if (!exists("outdir")) outdir = "."

set datafile separator ","
set datafile columnheaders
set datafile missing NaN   # rows filtered out (NaN) are skipped without breaking lines
set terminal pngcairo size 1500,900 font "DejaVu Sans,10" linewidth 1.5 noenhanced
set grid ytics mytics xtics lc rgb "#dddddd"
set key top left Left reverse samplen 2 font ",9"

# columns: 1 scenario, 2 mechanism, 3 variant, 4 size, 5 peers, 6 metric, 7 value
is(sc, m, v) = strcol(1) eq sc && strcol(2) eq m && (v eq "" || strcol(3) eq v)
pidx(m) = m eq "p50_ns" ? 1 : m eq "p90_ns" ? 2 : m eq "p99_ns" ? 3 : m eq "p999_ns" ? 4 : NaN
pos(x) = x > 0 ? x : NaN

# ---- latency --------------------------------------------------------------------------------
mechs  = "floor-spin venom venom pipe uds tcp mq zmq"
vars   = "spin busy_poll spin_then_block blocking blocking nodelay blocking req-rep"
labels = "floor:spin-ping-pong venom:busy_poll venom:default pipe-pair unix-socket tcp-loopback bip::message_queue zeromq-ipc"
colors = "#000000 #d62728 #ff7f0e #1f77b4 #2ca02c #9467bd #8c564b #e377c2"

set output outdir."/bench_latency.png"
set multiplot layout 2,3 title "venom_bench: latency percentiles per mechanism (log scale; lower is better)" font ",13"
set logscale y
set format y "%.0s%cs"
set xrange [0.7:4.3]
set xtics ("p50" 1, "p90" 2, "p99" 3, "p99.9" 4)
set ylabel "time"
do for [size in "16 64 1024 4096"] {
    set title "request round trip, ".size." B (echo)"
    plot for [i=1:words(mechs)] csv \
        using ((is("rpc-latency", word(mechs, i), word(vars, i)) && column(4) == size+0) ? pidx(strcol(6)) : NaN):($7*1e-9) \
        with linespoints pt 7 ps 0.6 lc rgb word(colors, i) title word(labels, i)
}
set title "blocking path: 64 B request after 1 ms idle"
plot csv using ((is("rpc-latency", "floor-futex", "after-idle")) ? pidx(strcol(6)) : NaN):($7*1e-9) \
         with linespoints pt 7 ps 0.6 lc rgb "#000000" title "floor:futex-ping-pong", \
     csv using ((is("rpc-latency", "venom", "after-idle")) ? pidx(strcol(6)) : NaN):($7*1e-9) \
         with linespoints pt 7 ps 0.6 lc rgb "#ff7f0e" title "venom:default"
set title "update latency: write_data returned -> reader sees it"
umechs  = "floor-spin venom floor-futex venom"
uvars   = "spin busy_poll futex spin_then_block"
ulabels = "floor:raw-spin venom:busy_poll floor:raw-futex venom:default"
ucolors = "#000000 #d62728 #7f7f7f #ff7f0e"
plot for [i=1:4] csv \
    using ((is("update-latency", word(umechs, i), word(uvars, i)) && column(4) == 64) ? pidx(strcol(6)) : NaN):(pos($7)*1e-9) \
    with linespoints pt 7 ps 0.6 lc rgb word(ucolors, i) title word(ulabels, i)
unset multiplot

# ---- bandwidth ------------------------------------------------------------------------------
set output outdir."/bench_bandwidth.png"
set terminal pngcairo size 1500,600 font "DejaVu Sans,10" linewidth 1.5 noenhanced
set multiplot layout 1,2 title "venom_bench: broadcast bandwidth by state size (1 reader)" font ",13"
set logscale x 2
set xrange [32:128*1024*1024]
set xtics ("64 B" 64, "4 KiB" 4096, "64 KiB" 65536, "1 MiB" 1048576, "16 MiB" 16777216, "64 MiB" 67108864)
set logscale y
set format y "%g"
set ylabel "GB/s"
set title "GB/s (higher is better)"
plot csv using ((is("broadcast", "memcpy", "static") && column(5) == 1 && strcol(6) eq "gb_per_s") ? column(4) : NaN):7 \
         with linespoints pt 7 ps 0.7 lc rgb "#000000" dt 2 title "memcpy out of raw shm (floor)", \
     csv using ((is("broadcast", "read_data", "static") && column(5) == 1 && strcol(6) eq "gb_per_s") ? column(4) : NaN):7 \
         with linespoints pt 7 ps 0.7 lc rgb "#d62728" title "read_data", \
     csv using ((is("broadcast", "memcpy-write", "static") && strcol(6) eq "gb_per_s") ? column(4) : NaN):7 \
         with linespoints pt 5 ps 0.7 lc rgb "#7f7f7f" dt 2 title "memcpy into raw shm (floor)", \
     csv using ((is("broadcast", "write_data", "static") && strcol(6) eq "gb_per_s") ? column(4) : NaN):7 \
         with linespoints pt 5 ps 0.7 lc rgb "#1f77b4" title "write_data", \
     csv using ((is("broadcast", "read_data", "flat-out") && column(5) == 1 && strcol(6) eq "gb_per_s") ? column(4) : NaN):7 \
         with linespoints pt 9 ps 0.8 lc rgb "#2ca02c" title "delivered while the writer writes flat out"
unset logscale y
set yrange [0:1.5]
set ylabel "venom / memcpy"
set title "ratio to memcpy (1 = as fast as memcpy; target >= 0.95 from 64 KiB)"
plot csv using ((is("broadcast", "read_data", "static") && column(5) == 1 && strcol(6) eq "ratio_vs_memcpy") ? column(4) : NaN):7 \
         with linespoints pt 7 ps 0.7 lc rgb "#d62728" title "read_data / memcpy", \
     csv using ((is("broadcast", "write_data", "static") && strcol(6) eq "ratio_vs_memcpy") ? column(4) : NaN):7 \
         with linespoints pt 5 ps 0.7 lc rgb "#1f77b4" title "write_data / memcpy", \
     0.95 with lines lc rgb "#aaaaaa" dt 3 title "0.95"
unset multiplot
set yrange [*:*]

# ---- throughput -----------------------------------------------------------------------------
set output outdir."/bench_throughput.png"
set terminal pngcairo size 900,550 font "DejaVu Sans,10" linewidth 1.5 noenhanced
set title "venom_bench: 64 B requests/s against the number of shell processes (higher is better)" font ",12"
set xrange [0.8:20]
set xtics ("1" 1, "2" 2, "4" 4, "8" 8, "16" 16)
set xlabel "shells (one process each)"
set logscale y
set format y "%.0s%c"
set ylabel "requests/s"
set key top right
plot csv using ((is("rpc-throughput", "venom", "spin_then_block") && strcol(6) eq "requests_per_s") ? column(5) : NaN):7 \
         with linespoints pt 7 ps 0.8 lc rgb "#ff7f0e" title "venom default (spin_then_block)", \
     csv using ((is("rpc-throughput", "venom", "busy_poll") && strcol(6) eq "requests_per_s") ? column(5) : NaN):7 \
         with linespoints pt 7 ps 0.8 lc rgb "#d62728" title "venom busy_poll", \
     csv using ((is("rpc-throughput", "uds", "") && strcol(6) eq "requests_per_s") ? column(5) : NaN):7 \
         with linespoints pt 5 ps 0.8 lc rgb "#2ca02c" title "unix socket, poll() server"
