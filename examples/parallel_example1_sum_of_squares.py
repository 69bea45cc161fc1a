"""Tutorial 1.3.2, example 1: sum of squares on easycore.common.parallel.

The reference's code, with the indentation its page breaks lost put back. It prints the
result and exits non-zero if the result is wrong.
"""

import sys

from easycore.common.config import CfgNode  # noqa: F401 - as in the tutorial
from easycore.common.parallel import UnorderedRunner


class Runner(UnorderedRunner):
    @staticmethod
    def producer_work(device, cfg, data):
        return data * data  # calculate square of data

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
    runner = Runner(devices=3)  # if you specify `device with a integer`, it will use cpus.
    # You can specify a list of str instead, such as:
    # runner = Runner(devices=["cpu", "cpu", "cpu"])

    data_list = list(range(100))  # prepare data, it must be iterable
    result = runner(data_list)  # call the runner
    print(result)

    runner.close()  # close the runner and shutdown all processes it opens.

    expected = sum(data * data for data in data_list)
    if result != expected:
        sys.exit(f"wrong result: {result}, expected {expected}")
