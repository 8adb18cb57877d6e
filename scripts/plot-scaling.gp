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
# (the 1-rank run is the start of both).
in(m, k) = strcol("mode") eq m && (k eq "EP" ? column("ep") == column("ranks") : column("ep") == 1)
tps(m, k) = in(m, k) ? column("tokens_per_s") : NaN

set title "Throughput (global tokens/s)"
set xlabel "ranks"
set ylabel "tokens/s"
set logscale x 2
set xtics (1, 2, 4, 8, 16, 32, 64)
set key top left
set grid
plot csv using "ranks":(tps("strong", "DP")) smooth unique with linespoints lw 2 pt 7 title "DP, strong", \
     csv using "ranks":(tps("strong", "EP")) smooth unique with linespoints lw 2 pt 5 title "EP, strong", \
     csv using "ranks":(tps("weak", "DP")) smooth unique with linespoints lw 2 pt 9 dt 2 title "DP, weak", \
     csv using "ranks":(tps("weak", "EP")) smooth unique with linespoints lw 2 pt 11 dt 2 title "EP, weak"

unset logscale x
unset grid
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
plot csv using (ms("attention_mean_s")):xtic(@label) title "attention", \
     '' using (ms("router_mean_s")) title "router", \
     '' using (ms("dispatch_mean_s")) title "dispatch (a2a fwd)", \
     '' using (ms("experts_mean_s")) title "experts", \
     '' using (ms("combine_mean_s")) title "combine (a2a fwd)", \
     '' using (ms("dense_ffn_mean_s") + ms("embed_head_mean_s")) title "embed/head/dense", \
     '' using (ms("backward_mean_s")) title "backward (incl. a2a bwd)", \
     '' using (ms("grad_sync_mean_s")) title "grad sync", \
     '' using (ms("optimizer_mean_s")) title "optimizer", \
     '' using (ms("untimed_s")) title "untimed"
unset multiplot
