// A ROWS x COLS output-stationary systolic array with the FuSe row-broadcast mode
// (docs/fuse_dataflow.md): the PEs of pe.v, a tap broadcaster per row, and the fold control.
//
// A fold's operands enter at the left edge (left_*: one per row) and, in GEMM mode, the top edge
// (top_*: one per column). The fold ends with the MAC of its last operands at PE (R-1, C-1)
// (GEMM) or with the K-th tap broadcast (FuSe; all rows broadcast in lockstep). Its outputs then
// enter the drain registers of rows 0 .. R-1 (a swap) as soon as rows 0 .. R-2 hold no word;
// until then the fold waits with its accumulators. R and C are the rows and columns the fold is
// scheduled on: the used ones (fold convention `used`) or the whole array (`padded`). The words
// leave the array at the bottom of every column, one per column per cycle (out_*).
//
// next_fold says that the next fold may start in the next cycle: after the swap (drain `hidden`)
// or once the last word has left the array (`charged`).
`timescale 1ns/1ps
module systolic_array #(
    parameter ROWS = 4,
    parameter COLS = 4,
    parameter W = 8,
    parameter ACC = 32,
    parameter KMAX = 7
) (
    input  wire                       clk,
    input  wire                       rst,
    // the fold's configuration, held while it runs
    input  wire                       fuse_mode,
    input  wire                       stride2,
    input  wire                       charged,
    input  wire [7:0]                 sched_rows,  // R
    input  wire [7:0]                 sched_cols,  // C
    input  wire [7:0]                 used_rows,
    input  wire [7:0]                 used_cols,
    input  wire [3:0]                 kernel,      // FuSe taps K
    input  wire [ROWS*KMAX*W-1:0]     taps,        // FuSe: row r's tap k at bits ((r*KMAX + k)*W +: W)
    // edges
    input  wire [ROWS*W-1:0]          left,
    input  wire [ROWS-1:0]            left_valid,
    input  wire [ROWS-1:0]            left_first,
    input  wire [ROWS-1:0]            left_last,
    input  wire [COLS*W-1:0]          top,
    input  wire [COLS-1:0]            top_valid,
    input  wire [COLS-1:0]            top_last,
    output wire [COLS*ACC-1:0]        out,
    output wire [COLS-1:0]            out_valid,
    output wire                       swap,
    output wire                       next_fold,
    output wire                       holds_outputs
);
    // ------------------------------------------------------------ wiring between PEs
    // (arrays of nets, one per PE port, so that a simulator wakes only the PEs a value reaches)
    wire signed [W-1:0]   a [0:ROWS-1][0:COLS];       // a[r][c] enters PE (r, c) from the left
    wire                  a_valid [0:ROWS-1][0:COLS];
    wire                  a_first [0:ROWS-1][0:COLS];
    wire                  a_last [0:ROWS-1][0:COLS];
    wire signed [W-1:0]   b [0:ROWS][0:COLS-1];       // b[r][c] enters PE (r, c) from above
    wire                  b_valid [0:ROWS][0:COLS-1];
    wire                  b_last [0:ROWS][0:COLS-1];
    wire signed [ACC-1:0] d [0:ROWS][0:COLS-1];       // the drain word entering PE (r, c) from above
    wire                  d_valid [0:ROWS][0:COLS-1];
    wire                  d_occupied [0:ROWS][0:COLS-1];
    wire [COLS-1:0]       last_fire [0:ROWS-1];
    wire [COLS-1:0]       tokens [0:ROWS-1];          // start tokens entering each PE of a row
    wire [COLS-1:0]       occupied [0:ROWS-1];        // drain registers holding a word
    wire signed [W-1:0]   bus [0:ROWS-1];
    wire [ROWS-1:0]       bus_valid, bus_first, last_tap;

    wire gemm_end = last_fire[sched_rows - 1][sched_cols - 1];
    wire fold_end = fuse_mode ? last_tap[0] : gemm_end;
    reg pending;   // the fold has ended and waits for the drain registers
    reg draining;  // charged: its outputs are leaving

    wire [ROWS-1:0] row_occupied;
    wire [ROWS-1:0] lower_mask;  // rows 0 .. R-2
    genvar r, c;
    generate
        for (r = 0; r < ROWS; r = r + 1) begin : rows_
            assign lower_mask[r] = (r + 1 < sched_rows);
            assign row_occupied[r] = |occupied[r];
            assign a[r][0] = left[r * W +: W];
            assign a_valid[r][0] = left_valid[r];
            assign a_first[r][0] = left_first[r];
            assign a_last[r][0] = left_last[r];

            // the row's tap broadcaster: starts when the start token reaches the farthest
            // scheduled PE, then one tap per cycle for K cycles
            reg       active;
            reg [3:0] index;
            wire      token = fuse_mode && tokens[r][sched_cols - 1];
            wire [3:0] tap = token ? 4'd0 : index;
            assign bus_valid[r] = token || active;
            assign bus_first[r] = (tap == 4'd0);
            assign bus[r] = taps[(r * KMAX + tap) * W +: W];
            assign last_tap[r] = bus_valid[r] && (tap == kernel - 4'd1);
            always @(posedge clk) begin
                if (rst) begin
                    active <= 1'b0;
                    index <= 4'd0;
                end else if (bus_valid[r]) begin
                    active <= (tap + 4'd1 < kernel);
                    index <= tap + 4'd1;
                end
            end

            for (c = 0; c < COLS; c = c + 1) begin : cols_
                assign tokens[r][c] = a_first[r][c];
                assign occupied[r][c] = d_occupied[r + 1][c];
                pe #(.W(W), .ACC(ACC), .FUSE(1)) unit (
                    .clk(clk), .rst(rst), .fuse_mode(fuse_mode), .stride2(stride2),
                    .a_in(a[r][c]), .a_in_valid(a_valid[r][c]),
                    // a FuSe start token stops at the farthest scheduled PE
                    .a_in_first(a_first[r][c] && !(fuse_mode && c >= sched_cols)), .a_in_last(a_last[r][c]),
                    .a_out(a[r][c + 1]), .a_out_valid(a_valid[r][c + 1]), .a_out_first(a_first[r][c + 1]),
                    .a_out_last(a_last[r][c + 1]),
                    .b_in(b[r][c]), .b_in_valid(b_valid[r][c]), .b_in_last(b_last[r][c]),
                    .b_out(b[r + 1][c]), .b_out_valid(b_valid[r + 1][c]), .b_out_last(b_last[r + 1][c]),
                    .bus(bus[r]), .bus_valid(bus_valid[r]), .bus_first(bus_first[r]),
                    .col_enabled(c < sched_cols), .last_fire(last_fire[r][c]),
                    .load(swap && r < sched_rows), .load_valid(r < used_rows && c < used_cols),
                    .drain_in(d[r][c]), .drain_in_valid(d_valid[r][c]), .drain_in_occupied(d_occupied[r][c]),
                    .drain(d[r + 1][c]), .drain_valid(d_valid[r + 1][c]), .drain_occupied(d_occupied[r + 1][c]));
            end
        end
        for (c = 0; c < COLS; c = c + 1) begin : edge_
            assign b[0][c] = top[c * W +: W];
            assign b_valid[0][c] = top_valid[c];
            assign b_last[0][c] = top_last[c];
            assign d[0][c] = {ACC{1'b0}};  // nothing enters the drain from above row 0
            assign d_valid[0][c] = 1'b0;
            assign d_occupied[0][c] = 1'b0;
            assign out[c * ACC +: ACC] = d[ROWS][c];
            assign out_valid[c] = d_valid[ROWS][c];
        end
    endgenerate

    assign swap = (fold_end || pending) && !(|(row_occupied & lower_mask));
    // after this cycle the array holds no word: at most the bottom row holds one, which leaves now
    wire empty_after = (ROWS == 1) || !(|row_occupied[(ROWS > 1 ? ROWS - 2 : 0):0]);
    assign next_fold = charged ? (draining && empty_after) : swap;
    wire [ROWS*COLS-1:0] valid_words;
    generate
        for (r = 0; r < ROWS; r = r + 1) begin : words_
            for (c = 0; c < COLS; c = c + 1) begin : col_
                assign valid_words[r * COLS + c] = d_valid[r + 1][c];
            end
        end
    endgenerate
    assign holds_outputs = |valid_words;

    always @(posedge clk) begin
        if (rst) begin
            pending <= 1'b0;
            draining <= 1'b0;
        end else begin
            pending <= (fold_end || pending) && !swap;
            draining <= charged && (swap || (draining && !empty_after));
        end
    end
endmodule
