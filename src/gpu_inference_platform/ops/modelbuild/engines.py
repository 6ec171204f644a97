"""Local TensorRT engine builds (only where TensorRT and an NVIDIA GPU are present)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gpu_inference_platform.components.tensorrt_engines import EngineProfile

TENSORRT_MIN_COSINE = 0.999


def tensorrt_unavailable_reason() -> str | None:
    """None when TensorRT and a CUDA GPU can be used here, else why not."""
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return "TensorRT is not installed (build on a GPU node with the NGC TensorRT image)"
    import torch

    if not torch.cuda.is_available():
        return "no CUDA GPU is visible"
    return None


def local_compute_capability() -> str:
    """Compute capability of GPU 0, e.g. '8.6'."""
    import torch

    major, minor = torch.cuda.get_device_capability(0)
    return f"{major}.{minor}"


def build_plan(onnx_path: Path, plan_path: Path, profile: EngineProfile) -> None:
    """Build an FP16 plan for the local GPU with one optimisation profile per sequence bucket (the trtexec Job's shapes)."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        raise RuntimeError("TensorRT could not parse the ONNX model: " + "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors)))
    config = builder.create_builder_config()
    config.set_flag(trt.BuilderFlag.FP16)
    for low, opt, high in profile.sequence_ranges():
        optimization = builder.create_optimization_profile()
        for name in profile.inputs:
            optimization.set_shape(name, (1, low), (profile.opt_batch, opt), (profile.max_batch, high))
        config.add_optimization_profile(optimization)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("TensorRT engine build failed")
    plan_path.write_bytes(bytes(serialized))


def run_plan(plan_path: Path, profile: EngineProfile, input_ids: np.ndarray, attention_mask: np.ndarray, embedding_dim: int) -> np.ndarray:
    """Embeddings from a plan on the local GPU, on the first profile whose sequence range holds the input (as Triton selects)."""
    import tensorrt as trt
    import torch

    engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(plan_path.read_bytes())
    context = engine.create_execution_context()
    sequence = input_ids.shape[1]
    index = next(i for i, (low, _, high) in enumerate(profile.sequence_ranges()) if low <= sequence <= high)
    context.set_optimization_profile_async(index, torch.cuda.current_stream().cuda_stream)
    tensors = {"input_ids": torch.from_numpy(input_ids).cuda(), "attention_mask": torch.from_numpy(attention_mask).cuda()}
    output = torch.empty((input_ids.shape[0], embedding_dim), dtype=torch.float32, device="cuda")
    for name, tensor in tensors.items():
        context.set_input_shape(name, tuple(tensor.shape))
        context.set_tensor_address(name, tensor.data_ptr())
    context.set_tensor_address("embedding", output.data_ptr())
    context.execute_async_v3(torch.cuda.current_stream().cuda_stream)
    torch.cuda.synchronize()
    return output.cpu().numpy()
