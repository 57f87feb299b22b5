// One processing element of the output-stationary systolic array (docs/fuse_dataflow.md).
//
// Conventional (GEMM) mode: the ifmap operand arrives from the left (a_in), the filter operand
// from above (b_in); the PE multiplies them in the cycle they arrive and passes both on (a to
// the right, b down) through its operand registers. The `first` flag that travels with an ifmap
// operand starts a new accumulation; `last` flags mark the final operands of a fold.
//
// FuSe mode (FUSE = 1 only): the input activations shift along the row through a chain of one
// register per PE for stride 1, two for stride 2 (the extra register r1 and the multiplexer
// that switches it into the chain), each with a start-token bit; the weight operand comes from
// the row's broadcast bus instead of from above (the weight multiplexer).
//
// Drain: at a swap the accumulator (with this cycle's MAC) enters the drain register; every other
// cycle the drain register takes the word of the PE above, so the words of a column shift down to
// the ofmap SRAM at the bottom edge while the next fold computes (occupied: a word is in the
// register; valid: it is an output, not the padding of a padded fold).
`timescale 1ns/1ps
module pe #(
    parameter W = 8,      // operand bits
    parameter ACC = 32,   // accumulator and drain register bits
    parameter FUSE = 1    // 1: with the FuSe additions
) (
    input  wire                  clk,
    input  wire                  rst,
    input  wire                  fuse_mode,    // 1: row broadcast (FuSe layers); 0: GEMM
    input  wire                  stride2,      // FuSe input chain of two registers per PE
    // ifmap operand (GEMM) or input activation (FuSe) from the left, with its flags
    input  wire signed [W-1:0]   a_in,
    input  wire                  a_in_valid,
    input  wire                  a_in_first,   // GEMM: first operand of the fold; FuSe: start token
    input  wire                  a_in_last,
    output wire signed [W-1:0]   a_out,
    output wire                  a_out_valid,
    output wire                  a_out_first,
    output wire                  a_out_last,
    // filter operand from above (GEMM)
    input  wire signed [W-1:0]   b_in,
    input  wire                  b_in_valid,
    input  wire                  b_in_last,
    output reg  signed [W-1:0]   b_out,
    output reg                   b_out_valid,
    output reg                   b_out_last,
    // the row's broadcast bus (FuSe)
    input  wire signed [W-1:0]   bus,
    input  wire                  bus_valid,
    input  wire                  bus_first,
    input  wire                  col_enabled,  // this PE's column is scheduled in the FuSe fold
    output wire                  last_fire,    // GEMM: the MAC of the fold's last operands, this cycle
    // drain
    input  wire                  load,         // a swap that loads this PE's drain register
    input  wire                  load_valid,
    input  wire signed [ACC-1:0] drain_in,     // from the PE above
    input  wire                  drain_in_valid,
    input  wire                  drain_in_occupied,
    output reg  signed [ACC-1:0] drain,
    output reg                   drain_valid,
    output reg                   drain_occupied
);
    reg signed [W-1:0] r0;
    reg                r0_valid, r0_first, r0_last;
    reg signed [ACC-1:0] acc;

    wire use_bus = FUSE && fuse_mode;
    wire fire = use_bus ? (bus_valid && col_enabled) : (a_in_valid && b_in_valid);
    wire start = use_bus ? bus_first : a_in_first;
    wire signed [W-1:0] weight = use_bus ? bus : b_in;
    wire signed [ACC-1:0] product = a_in * weight;
    wire signed [ACC-1:0] acc_next = fire ? (start ? product : acc + product) : acc;
    assign last_fire = !use_bus && fire && a_in_last && b_in_last;

    generate
        if (FUSE) begin : chain2
            reg signed [W-1:0] r1;
            reg                r1_valid, r1_first;
            always @(posedge clk) begin
                r1 <= r0;
                r1_valid <= rst ? 1'b0 : r0_valid;
                r1_first <= rst ? 1'b0 : r0_first;
            end
            wire second = fuse_mode && stride2;
            assign a_out = second ? r1 : r0;
            assign a_out_valid = second ? r1_valid : r0_valid;
            assign a_out_first = second ? r1_first : r0_first;
        end else begin : chain1
            assign a_out = r0;
            assign a_out_valid = r0_valid;
            assign a_out_first = r0_first;
        end
    endgenerate
    assign a_out_last = r0_last;

    always @(posedge clk) begin
        r0 <= a_in;
        b_out <= b_in;
        acc <= rst ? {ACC{1'b0}} : acc_next;
        if (rst) begin
            {r0_valid, r0_first, r0_last, b_out_valid, b_out_last} <= 5'b0;
            {drain_valid, drain_occupied} <= 2'b0;
            drain <= {ACC{1'b0}};
        end else begin
            {r0_valid, r0_first, r0_last} <= {a_in_valid, a_in_first, a_in_last};
            {b_out_valid, b_out_last} <= {b_in_valid, b_in_last};
            if (load) begin
                drain <= acc_next;
                drain_valid <= load_valid;
                drain_occupied <= 1'b1;
            end else begin
                drain <= drain_in;
                drain_valid <= drain_in_valid;
                drain_occupied <= drain_in_occupied;
            end
        end
    end
endmodule
