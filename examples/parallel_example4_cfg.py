"""Tutorial 1.3.5, example 4: parameters from outside through cfg ("sum of power").

The reference's code, with the indentation its page breaks lost put back. It prints the
result and exits non-zero if the result is wrong.
"""

import sys

from easycore.common.config import CfgNode as CN  # noqa: N817 - as in the tutorial
from easycore.common.parallel import UnorderedRunner


class Runner(UnorderedRunner):
    @staticmethod
    def producer_work(device, cfg, data):
        return data**cfg.exponent  # calculate power of data with outside parameter "exponent".

    @staticmethod
    def consumer_init(cfg):
        cfg.sum = 0  # init a sum variable with 0, you can use cfg to transfer data

    @staticmethod
    def consumer_work(cfg, data):
        cfg.sum += data  # add the square to the sum variable

    @staticmethod
    def consumer_end(cfg):
        return cfg.sum  # return the result you need


if __name__ == "__main__":
    # set parameters outside.
    cfg = CN()
    cfg.exponent = 3

    runner = Runner(devices=3, cfg=cfg)  # transfer `cfg` into the runner

    data_list = list(range(100))
    result = runner(data_list)
    print(result)

    runner.close()

    expected = sum(data**3 for data in data_list)
    if result != expected:
        sys.exit(f"wrong result: {result}, expected {expected}")
