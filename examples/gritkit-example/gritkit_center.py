"""gritkit-example: a reward that checks the first answer box holds the image centre."""
import gritkit
from gritkit import ParseResult, Sample
from gritkit.coords import to_pixels


def center_hit(result: ParseResult, sample: Sample) -> "float | None":
    """1.0 when the first box (answer boxes first) contains the image centre, else 0.0."""
    if sample.image_size is None:
        return None  # not applicable: no image size to find the centre
    boxes = result.boxes_in("answer") or result.boxes
    if not result.ok or not boxes:
        return 0.0  # the floor: an unparsable or box-less output earns nothing
    x1, y1, x2, y2 = to_pixels(boxes[0].coords, sample)  # written frame -> original pixels
    cx, cy = sample.image_size.center
    return float(x1 <= cx <= x2 and y1 <= cy <= y2)


@gritkit.hookimpl
def register_rewards(register):
    register(center_hit, name="center_hit", description="the first box holds the image centre")
