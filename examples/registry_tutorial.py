"""Tutorial 1.4, "Register Mechanism": every spelling, each on a fresh registry."""

from easycore.common.registry import Registry


def main() -> None:
    # 1.4.1 Create a registry
    MODEL_REGISTRY = Registry("MODEL")
    print("created:", MODEL_REGISTRY)

    # 1.4.2 Register an object with its __name__
    @MODEL_REGISTRY.register()
    class ResNet50:
        pass

    print("decorator, no name:", MODEL_REGISTRY.registered_names())

    MODEL_REGISTRY = Registry("MODEL")  # "# or": the same on a fresh registry
    MODEL_REGISTRY.register(obj=ResNet50)
    print("register(obj=...):", MODEL_REGISTRY.registered_names())

    # 1.4.4 Get a registered object from registry
    model_class = MODEL_REGISTRY.get("ResNet50")
    assert model_class is ResNet50
    print("get('ResNet50') ->", model_class.__name__)

    # 1.4.3 Register an object with a given name
    MODEL_REGISTRY = Registry("MODEL")

    @MODEL_REGISTRY.register("resnet")
    class ResNet50:
        pass

    MODEL_REGISTRY_2 = Registry("MODEL")
    MODEL_REGISTRY_2.register("resnet", ResNet50)
    model_class = MODEL_REGISTRY.get("resnet")
    assert model_class is MODEL_REGISTRY_2.get("resnet") is ResNet50
    print("get('resnet') ->", model_class.__name__)

    # Beyond the tutorial: what a mistake looks like.
    try:
        MODEL_REGISTRY.get("resnet5")
    except KeyError as err:
        print("get('resnet5') ->", type(err).__name__, err)


if __name__ == "__main__":
    main()
