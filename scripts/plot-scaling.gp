# Plots a moe-bench step sweep (scripts/scaling-sweep.sh writes the CSV):
# left, global tokens/s against ranks for each series (DP / EP x strong /
# weak); right, each run's step time stacked by phase (mean over ranks).
#   gnuplot -e "csv='docs/scaling/sweep.csv'; png='docs/scaling/scaling.png'" scripts/plot-scaling.gp
if (!exists("csv")) csv = 'docs/scaling/sweep.csv'
if (!exists("png")) png = 'docs/scaling/scaling.png'

set terminal pngcairo size 1600,640 font ",10"
set output png
set datafile separator ","
set datafile columnheaders
set multiplot layout 1,2

# A row belongs to series (mode, kind): DP rows have ep 1, EP rows ep = ranks
# (the 1-rank run is the start of both). Each series is filtered into a
# datablock first, so that its points join into one line.
in(m, k) = strcol("mode") eq m && (k eq "EP" ? column("ep") == column("ranks") : column("ep") == 1)
set table $dp_strong separator comma
plot csv using "ranks":"tokens_per_s" with table if (in("strong", "DP"))
set table $ep_strong separator comma
plot csv using "ranks":"tokens_per_s" with table if (in("strong", "EP"))
set table $dp_weak separator comma
plot csv using "ranks":"tokens_per_s" with table if (in("weak", "DP"))
set table $ep_weak separator comma
plot csv using "ranks":"tokens_per_s" with table if (in("weak", "EP"))
unset table

set title "Throughput (global tokens/s)"
set xlabel "ranks"
set ylabel "tokens/s"
set logscale x 2
set xtics (1, 2, 4, 8, 16, 32, 64)
set xrange [0.8:*]
set yrange [0:*]
set key bottom right
set grid
set datafile nocolumnheaders
plot $dp_strong using 1:2 with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "DP, strong", \
     $ep_strong using 1:2 with linespoints lw 2 pt 5 lc rgb "#d62728" title "EP, strong", \
     $dp_weak using 1:2 with linespoints lw 2 pt 9 dt 2 lc rgb "#1f77b4" title "DP, weak", \
     $ep_weak using 1:2 with linespoints lw 2 pt 11 dt 2 lc rgb "#d62728" title "EP, weak"
set datafile columnheaders

unset logscale x
unset grid
set xrange [*:*]
set yrange [0:*]
set title "Step time by phase (mean over ranks, ms per step)"
set xlabel ""
set ylabel "ms"
set style data histograms
set style histogram rowstacked
set style fill solid 0.85 border -1
set boxwidth 0.75
set key outside right top vertical
set xtics rotate by -45 left
ms(c) = 1e3 * column(c)
label = 'sprintf("%s %s %d", strcol("mode"), column("ep") > 1 ? "EP" : "DP", column("ranks"))'
plot csv using (ms("attention_mean_s")):xtic(@label) lc rgb "#1f77b4" title "attention", \
     '' using (ms("router_mean_s")) lc rgb "#aec7e8" title "router", \
     '' using (ms("dispatch_mean_s")) lc rgb "#ff7f0e" title "dispatch (a2a fwd)", \
     '' using (ms("experts_mean_s")) lc rgb "#2ca02c" title "experts", \
     '' using (ms("combine_mean_s")) lc rgb "#ffbb78" title "combine (a2a fwd)", \
     '' using (ms("dense_ffn_mean_s") + ms("embed_head_mean_s")) lc rgb "#9467bd" title "embed/head/dense", \
     '' using (ms("backward_mean_s")) lc rgb "#d62728" title "backward (incl. a2a bwd)", \
     '' using (ms("grad_sync_mean_s")) lc rgb "#17becf" title "grad sync", \
     '' using (ms("optimizer_mean_s")) lc rgb "#8c564b" title "optimizer", \
     '' using (ms("untimed_s")) lc rgb "#c7c7c7" title "untimed"
unset multiplot
