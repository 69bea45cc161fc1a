"""Tutorial 1.3.4, example 3: batched prediction on easycore.torch.parallel.

The reference runs it on ["cuda:0", "cuda:1"] (and calls the class ``Redictor``, a typo);
pass devices on the command line. The default is two CPUs.
"""

import sys

import torch
from network import Net

from easycore.common.config import CfgNode  # noqa: F401 - as in the tutorial
from easycore.torch.parallel import OrderedRunner


def batch_generator(data_list, batch_size):
    for i in range(0, len(data_list), batch_size):
        data_batch = data_list[i : i + batch_size]
        yield data_batch


class Predictor(OrderedRunner):
    @staticmethod
    def producer_init(device, cfg):
        cfg.model = Net()
        cfg.model.to(device)

    @staticmethod
    def producer_work(device, cfg, data):
        with torch.no_grad():
            data = torch.Tensor(data).view(-1, 1)
            data = data.to(device)
            output = cfg.model(data)
            output = output.cpu()
        return output

    @staticmethod
    def producer_end(device, cfg):
        del cfg.model

    @staticmethod
    def consumer_init(cfg):
        cfg.data_list = []

    @staticmethod
    def consumer_work(cfg, data):
        cfg.data_list.append(data)

    @staticmethod
    def consumer_end(cfg):
        data = torch.cat(cfg.data_list, dim=0)
        return data


if __name__ == "__main__":
    devices = sys.argv[1:] or ["cpu", "cpu"]
    predictor = Predictor(devices=devices)

    data_list = list(range(100))
    result = predictor(batch_generator(data_list, batch_size=10))
    print(result.shape)
    assert tuple(result.shape) == (100, 3)

    predictor.close()
