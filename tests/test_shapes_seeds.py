"""The worked examples of the seed notes, as named tests with their known values."""

from __future__ import annotations

from convlab import shapes


def test_seed_004_conv_then_transpose_gives_23_and_output_padding_1_restores_24():
    # Conv2d(128, 256, 3, padding=1, stride=2) on 24x24, then the ConvTranspose2d
    # with the same numbers: 24 -> 12 -> 23, and output_padding=1 gives 24.
    assert shapes.conv_output_size((24, 24), 3, stride=2, padding=1) == (12, 12)
    assert shapes.conv_transpose_output_size((12, 12), 3, stride=2, padding=1) == (23, 23)
    assert shapes.conv_transpose_output_size((12, 12), 3, stride=2, padding=1, output_padding=1) == (24, 24)
    assert shapes.output_padding_for(24, 12, 3, stride=2, padding=1) == 1
    r = shapes.roundtrip(24, 3, stride=2, padding=1)
    assert (r.conv_size, r.back_size, r.output_padding) == (12, 23, 1)


def test_seed_004_odd_size_comes_back_without_output_padding():
    r = shapes.roundtrip(25, 3, stride=2, padding=1)
    assert (r.conv_size, r.back_size, r.output_padding) == (13, 25, 0)


def test_seed_004_lengths_100_and_101_through_kernel_1_stride_2():
    # Conv1d(k=1, s=2) maps both 100 and 101 to 50 and 51; ConvTranspose1d
    # brings back 99 and 101: the even length needs output_padding 1.
    assert shapes.conv_output_size(100, 1, stride=2) == 50
    assert shapes.conv_output_size(101, 1, stride=2) == 51
    assert shapes.conv_transpose_output_size(50, 1, stride=2) == 99
    assert shapes.conv_transpose_output_size(51, 1, stride=2) == 101
    assert shapes.roundtrip(100, 1, stride=2).output_padding == 1
    assert shapes.roundtrip(101, 1, stride=2).output_padding == 0


def test_seed_003_six_by_six_kernel_3_stride_2_padding_1_gives_three_by_three():
    assert shapes.conv_output_size((6, 6), 3, stride=2, padding=1) == (3, 3)


def test_seed_003_four_by_four_kernel_3_gives_two_by_two():
    assert shapes.conv_output_size((4, 4), 3) == (2, 2)


def test_768_to_128_lists_kernel_6_stride_6_padding_0_first():
    first = shapes.solve(768, 128)[0]
    assert (first.kernel_size, first.stride, first.padding, first.dilation, first.unused) == (6, 6, 0, 1, 0)
    assert shapes.conv_output_size(768, 6, stride=6) == 128


def test_seed_000_unet_copy_and_crop_windows():
    # Seed 000 derives these by hand from torchvision's center_crop:
    # 568->392 from 88, 280->200 from 40, 136->104 from 16, 64->56 from 4.
    expected = {568: (392, 88, 479), 280: (200, 40, 239), 136: (104, 16, 119), 64: (56, 4, 59)}
    for size, (crop, first, last) in expected.items():
        box = shapes.center_crop_box((size, size), (crop, crop))
        assert box.start == (first, first)
        assert box.stop == (last + 1, last + 1)
        assert box.pad == ((0, 0), (0, 0))


def test_seed_000_the_same_windows_come_out_of_unet_sizes():
    u = shapes.unet_sizes(572)
    assert u.output_size == (388,)
    boxes = [
        (lv.skip_crop.size[0], lv.skip_crop.output_size[0], lv.skip_crop.start[0], lv.skip_crop.stop[0] - 1)
        for lv in u.levels[:4]
    ]
    assert boxes == [(568, 392, 88, 479), (280, 200, 40, 239), (136, 104, 16, 119), (64, 56, 4, 59)]


def test_center_crop_offsets_round_half_to_even():
    # int(round(diff / 2)): 1.5 -> 2, 2.5 -> 2, 3.5 -> 4 (Python's banker's rounding).
    assert shapes.center_crop_box(10, 7).start == (2,)  # diff 3
    assert shapes.center_crop_box(12, 7).start == (2,)  # diff 5
    assert shapes.center_crop_box(14, 7).start == (4,)  # diff 7
    assert shapes.center_crop_box(9, 7).start == (1,)  # diff 2
    assert shapes.center_crop_box(8, 7).start == (0,)  # diff 1: round(0.5) == 0


def test_center_crop_larger_than_image_pads_with_the_odd_pixel_at_the_end():
    box = shapes.center_crop_box((3, 10), (6, 4))
    assert box.pad == ((1, 2), (0, 0))
    assert box.start == (0, 3)
    assert box.stop == (6, 7)
    assert box.padded
    assert box.slices == (slice(0, 6), slice(3, 7))
