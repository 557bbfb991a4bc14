// A behavioural fixed-point 3x3 convolution, the consumer of convlab's $readmemh files.
// 1 input channel, CO output channels, H x W image, padding 1, stride 1:
//   acc = bias[o] + sum_{ky,kx} w[o][ky][kx] * x[y+ky-1][x+kx-1]   (int8 x int8 -> int32)
//   out = saturate_int8((acc + 2^(SHIFT-1)) >>> SHIFT)              (round half up)
// Memories are in convlab's NCHW order, one value per word: image[y*W+x], weight[(o*3+ky)*3+kx],
// bias[o] (32 bits), out[(o*H+y)*W+x].
// Faults for the test of `convlab diff`: -DFAULT_SIGN zero-extends the pixels (a lost sign
// extension), -DFAULT_PAD accepts column x == W as inside the image (off-by-one padding).
module conv3x3 #(parameter H = 8, W = 8, CO = 2, SHIFT = 4) ();
    reg signed [7:0] image [0:H*W-1];
    reg signed [7:0] weight [0:CO*9-1];
    reg signed [31:0] bias [0:CO-1];
    reg signed [7:0] out [0:CO*H*W-1];
    integer o, y, x, ky, kx, iy, ix;
    reg signed [31:0] acc, pixel, rounded;

    task run;
        for (o = 0; o < CO; o = o + 1)
            for (y = 0; y < H; y = y + 1)
                for (x = 0; x < W; x = x + 1) begin
                    acc = bias[o];
                    for (ky = 0; ky < 3; ky = ky + 1)
                        for (kx = 0; kx < 3; kx = kx + 1) begin
                            iy = y + ky - 1;
                            ix = x + kx - 1;
`ifdef FAULT_PAD
                            if (iy >= 0 && iy < H && ix >= 0 && ix <= W) begin
`else
                            if (iy >= 0 && iy < H && ix >= 0 && ix < W) begin
`endif
`ifdef FAULT_SIGN
                                pixel = {24'b0, image[iy*W+ix]};
`else
                                pixel = image[iy*W+ix];
`endif
                                acc = acc + pixel * weight[(o*3+ky)*3+kx];
                            end
                        end
                    rounded = (acc + (1 << (SHIFT - 1))) >>> SHIFT;
                    out[(o*H+y)*W+x] = rounded > 127 ? 8'sd127 : rounded < -128 ? -8'sd128 : rounded[7:0];
                end
    endtask
endmodule

module tb;
    conv3x3 dut ();
    reg [8*1024-1:0] in_file, w_file, b_file, out_file;
    initial begin
        if (!$value$plusargs("input=%s", in_file) || !$value$plusargs("weight=%s", w_file)
            || !$value$plusargs("bias=%s", b_file) || !$value$plusargs("output=%s", out_file)) begin
            $display("usage: vvp tb +input=F +weight=F +bias=F +output=F");
            $finish;
        end
        $readmemh(in_file, dut.image);
        $readmemh(w_file, dut.weight);
        $readmemh(b_file, dut.bias);
        dut.run;
        $writememh(out_file, dut.out);
        $finish;
    end
endmodule
