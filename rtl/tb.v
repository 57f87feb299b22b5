// Testbench of systolic_array: plays folds from two files written by the Python harness
// (tests/rtl_harness.py) and prints what happens, one event per line:
//   F <cycle>              a fold starts (its first edge inputs are applied in this cycle)
//   W <cycle> <col> <word>  an output word leaves the bottom of column <col> at the end of <cycle>
//   E <cycle>              the cycle in which a next fold could start after the last one
// Plusargs: +folds=<hex file> +lines=<hex file> +nfolds=<count>.
// folds: one configuration per fold (see CFG_W); lines: the edge inputs of every cycle of every fold.
`timescale 1ns/1ps
module tb;
    parameter ROWS = 4;
    parameter COLS = 4;
    parameter W = 8;
    parameter ACC = 32;
    parameter KMAX = 7;
    parameter MAX_FOLDS = 8192;
    parameter MAX_LINES = 262144;
    parameter MAX_CYCLES = 4000000;
    localparam LINE_W = ROWS * W + 3 * ROWS + COLS * W + 2 * COLS;
    localparam TAPS_W = ROWS * KMAX * W;
    localparam CFG_W = 32 + 32 + 1 + 1 + 1 + 4 + 8 + 8 + 8 + 8 + TAPS_W;

    reg clk = 1'b0;
    reg rst = 1'b1;
    reg [CFG_W-1:0] folds [0:MAX_FOLDS-1];
    reg [LINE_W-1:0] lines [0:MAX_LINES-1];
    reg [1023:0] folds_file, lines_file;
    integer nfolds, fold, c;
    reg [31:0] cycle, start;
    reg done;

    wire [CFG_W-1:0] cfg = folds[fold];
    wire [31:0] first_line = cfg[CFG_W-1 -: 32];
    wire [31:0] nlines = cfg[CFG_W-33 -: 32];
    wire fuse_mode = cfg[TAPS_W + 38];
    wire stride2 = cfg[TAPS_W + 37];
    wire charged = cfg[TAPS_W + 36];
    wire [3:0] kernel = cfg[TAPS_W + 35 -: 4];
    wire [7:0] sched_rows = cfg[TAPS_W + 31 -: 8];
    wire [7:0] sched_cols = cfg[TAPS_W + 23 -: 8];
    wire [7:0] used_rows = cfg[TAPS_W + 15 -: 8];
    wire [7:0] used_cols = cfg[TAPS_W + 7 -: 8];
    wire [TAPS_W-1:0] taps = cfg[TAPS_W-1:0];

    wire [31:0] offset = cycle - start;
    wire feeding = !done && offset < nlines;
    wire [LINE_W-1:0] line = feeding ? lines[first_line + offset] : {LINE_W{1'b0}};
    wire [ROWS*W-1:0] left = line[LINE_W-1 -: ROWS * W];
    wire [ROWS-1:0] left_valid = line[LINE_W - ROWS * W - 1 -: ROWS];
    wire [ROWS-1:0] left_first = line[LINE_W - ROWS * W - ROWS - 1 -: ROWS];
    wire [ROWS-1:0] left_last = line[LINE_W - ROWS * W - 2 * ROWS - 1 -: ROWS];
    wire [COLS*W-1:0] top = line[2 * COLS + COLS * W - 1 -: COLS * W];
    wire [COLS-1:0] top_valid = line[2 * COLS - 1 -: COLS];
    wire [COLS-1:0] top_last = line[COLS - 1:0];

    wire [COLS*ACC-1:0] out;
    wire [COLS-1:0] out_valid;
    wire swap, next_fold, holds_outputs;

    systolic_array #(.ROWS(ROWS), .COLS(COLS), .W(W), .ACC(ACC), .KMAX(KMAX)) dut (
        .clk(clk), .rst(rst), .fuse_mode(fuse_mode), .stride2(stride2), .charged(charged),
        .sched_rows(sched_rows), .sched_cols(sched_cols), .used_rows(used_rows), .used_cols(used_cols),
        .kernel(kernel), .taps(taps), .left(left), .left_valid(left_valid), .left_first(left_first),
        .left_last(left_last), .top(top), .top_valid(top_valid), .top_last(top_last), .out(out),
        .out_valid(out_valid), .swap(swap), .next_fold(next_fold), .holds_outputs(holds_outputs));

    always #1 clk = ~clk;

    initial begin
        if (!$value$plusargs("folds=%s", folds_file) || !$value$plusargs("lines=%s", lines_file)
                || !$value$plusargs("nfolds=%d", nfolds)) begin
            $display("tb: needs +folds=<file> +lines=<file> +nfolds=<count>");
            $finish;
        end
        $readmemh(folds_file, folds);
        $readmemh(lines_file, lines);
        fold = 0;
        cycle = 0;
        start = 0;
        done = 1'b0;
        @(posedge clk);
        rst <= 1'b0;
        $display("F 0");
    end

    always @(posedge clk) begin
        if (!rst) begin
            for (c = 0; c < COLS; c = c + 1)
                if (out_valid[c]) $display("W %0d %0d %0d", cycle, c, $signed(out[c * ACC +: ACC]));
            if (next_fold && !done) begin
                if (fold + 1 < nfolds) begin
                    fold <= fold + 1;
                    start <= cycle + 1;
                    $display("F %0d", cycle + 1);
                end else begin
                    done <= 1'b1;
                    $display("E %0d", cycle + 1);
                end
            end
            if (done && !holds_outputs) $finish;
            if (cycle > MAX_CYCLES) begin
                $display("tb: no end after %0d cycles", cycle);
                $finish;
            end
            cycle <= cycle + 1;
        end
    end
endmodule
