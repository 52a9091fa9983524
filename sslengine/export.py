"""Deployable exports of a trained model: TorchScript, ONNX, a model card and a predict example.

Both model formats take what the app itself feeds the engine, **uint8 NCHW images at the training
size**, and do everything else inside: ``x / 255`` (the engine's ``to_float``), the backbone's own
normalisation (``Network.features`` subtracts its mean and divides by its std), the classifier, then a
softmax. They return class probabilities ``float32 [N, K]`` from the EMA (evaluation) weights, the
same numbers :meth:`sslengine.Trainer.predict` gives. Class names, version and input spec travel in
the file: ONNX ``metadata_props`` and a TorchScript extra file ``metadata.json``.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import platform
import re
import statistics
import string
import time
import unicodedata
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .augment import to_float
from .backbones import Network
from .trainer import Trainer

ONNX_OPSET = 18
INPUT_NAME = "images"
OUTPUT_NAME = "probabilities"
TORCHSCRIPT_METADATA_FILE = "metadata.json"
FORMATS = ("onnx", "torchscript")
FILE_NAMES = {"onnx": "model.onnx", "torchscript": "model.pt"}
CARD_JSON, CARD_MARKDOWN, PREDICT_SCRIPT = "model_card.json", "model_card.md", "predict.py"
TEMPLATES = "templates"  # sslengine/templates: the model card and the predict.py example


@dataclass(frozen=True)
class ExportMetadata:
    """What a deployed model needs to be used correctly; stored inside every exported file."""

    classes: tuple[str, ...]  # class names in output order
    version: int  # the app's model version number
    image_size: int  # inputs are square: [N, in_channels, image_size, image_size]
    in_channels: int  # 1 (grayscale) or 3 (RGB)
    algorithm: str
    backbone: str
    input_format: str = "uint8 NCHW, values 0-255; normalisation is inside the model"
    output_format: str = "float32 [N, num_classes] class probabilities (softmax)"

    @classmethod
    def for_trainer(cls, trainer: Trainer, *, classes: list[str] | tuple[str, ...], version: int) -> ExportMetadata:
        """Metadata of ``trainer``'s model; ``classes`` must match its number of outputs."""
        config = trainer.config
        if len(classes) != config.num_classes:
            raise ValueError(f"{len(classes)} class names for a model with {config.num_classes} outputs")
        return cls(
            classes=tuple(classes),
            version=int(version),
            image_size=config.image_size,
            in_channels=config.in_channels,
            algorithm=config.algorithm,
            backbone=config.backbone,
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["classes"] = list(self.classes)
        return data

    def string_props(self) -> dict[str, str]:
        """Flat string key/values (ONNX ``metadata_props`` hold strings only); lists as JSON."""
        return {key: value if isinstance(value, str) else json.dumps(value) for key, value in self.to_dict().items()}


class ProbabilityModel(nn.Module):
    """uint8 NCHW images → class probabilities, with the engine's preprocessing inside."""

    def __init__(self, network: Network) -> None:
        super().__init__()
        self.network = network

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network(to_float(images)).softmax(dim=1)


def probability_model(trainer: Trainer) -> ProbabilityModel:
    """A CPU copy of the trainer's EMA (evaluation) network, in eval mode, wrapped for export."""
    network = copy.deepcopy(trainer.ema_model).to("cpu", memory_format=torch.contiguous_format)  # type: ignore[call-overload]
    network = network.float().eval()
    network.requires_grad_(False)
    return ProbabilityModel(network).eval()


def _example_input(meta: ExportMetadata, batch: int = 2) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    shape = (batch, meta.in_channels, meta.image_size, meta.image_size)
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=generator)


def export_torchscript(trainer: Trainer, path: str | Path, meta: ExportMetadata) -> Path:
    """Trace the probability model to TorchScript at ``path``; metadata in the ``metadata.json`` extra file."""
    model = probability_model(trainer)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # torch.jit is deprecated in favour of torch.export, still the portable format
        warnings.simplefilter("ignore", FutureWarning)
        scripted = torch.jit.trace(model, _example_input(meta), check_trace=False)
        torch.jit.save(scripted, str(target), _extra_files={TORCHSCRIPT_METADATA_FILE: json.dumps(meta.to_dict())})
    return target


def load_torchscript(path: str | Path) -> tuple[torch.jit.ScriptModule, dict[str, Any]]:
    """Load an exported TorchScript file and its metadata."""
    extra = {TORCHSCRIPT_METADATA_FILE: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return module, json.loads(extra[TORCHSCRIPT_METADATA_FILE])


def export_onnx(trainer: Trainer, path: str | Path, meta: ExportMetadata, opset: int = ONNX_OPSET) -> Path:
    """Export the probability model to one self-contained ONNX file with a dynamic batch axis.

    Input ``images`` uint8 [batch, C, H, W]; output ``probabilities`` float32 [batch, K];
    ``metadata_props`` carry :class:`ExportMetadata` (lists as JSON strings).
    """
    import onnx

    if opset < 17:
        raise ValueError("opset must be >= 17")
    model = probability_model(trainer)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        (_example_input(meta),),
        str(target),
        dynamo=True,
        opset_version=opset,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_shapes={"images": {0: torch.export.Dim("batch")}},
        external_data=False,
        verbose=False,
    )
    proto = onnx.load(str(target))
    onnx.helper.set_model_props(proto, meta.string_props())
    proto.doc_string = f"{meta.backbone} ({meta.algorithm}) v{meta.version}: {meta.input_format} -> {meta.output_format}"
    onnx.checker.check_model(proto)
    onnx.save(proto, str(target))
    return target


def onnx_metadata(path: str | Path) -> dict[str, Any]:
    """The :class:`ExportMetadata` stored in an exported ONNX file (JSON values decoded)."""
    import onnx

    props = {prop.key: prop.value for prop in onnx.load(str(path), load_external_data=False).metadata_props}
    decoded: dict[str, Any] = {}
    for key, value in props.items():
        try:
            decoded[key] = json.loads(value)
        except json.JSONDecodeError:
            decoded[key] = value
    return decoded


def export_model(trainer: Trainer, path: str | Path, meta: ExportMetadata, fmt: str) -> Path:
    """Export in ``fmt`` (``"onnx"`` or ``"torchscript"``) to ``path``."""
    if fmt == "onnx":
        return export_onnx(trainer, path, meta)
    if fmt == "torchscript":
        return export_torchscript(trainer, path, meta)
    raise ValueError(f"unknown export format {fmt!r}; choose one of {FORMATS}")


@dataclass
class ModelCard:
    """Facts about one model version, written as ``model_card.json`` and ``model_card.md``."""

    meta: ExportMetadata
    config: dict[str, Any]  # the TrainConfig the model was trained with
    data: dict[str, int]  # counts, e.g. human_labels, pseudo_labels, images
    metrics: dict[str, Any]  # the version's metrics, verbatim
    training_seconds: float  # wall time of training over every round since the first
    steps: int  # optimizer steps over every round since the first
    created_at: str  # ISO 8601 date of the version
    project: str = ""
    last_round_steps: int = 0  # the round that made this version
    last_round_seconds: float = 0.0
    # measured facts of the exported file: precision, size, onnxruntime latency, distillation results
    deployment: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "version": self.meta.version,
            "created_at": self.created_at,
            "algorithm": self.meta.algorithm,
            "backbone": self.meta.backbone,
            "classes": list(self.meta.classes),
            "input": {
                "format": self.meta.input_format,
                "shape": ["batch", self.meta.in_channels, self.meta.image_size, self.meta.image_size],
            },
            "output": self.meta.output_format,
            "data": dict(self.data),
            "metrics": self.metrics,
            "training": {
                "steps": self.steps,
                "seconds": self.training_seconds,
                "last_round": {"steps": self.last_round_steps, "seconds": self.last_round_seconds},
                "config": self.config,
            },
            **({"deployment": self.deployment} if self.deployment else {}),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    def to_markdown(self) -> str:
        """The card as Markdown, from ``templates/model_card.md``; the lists and tables are built here."""
        card = self.to_dict()
        metrics = card["metrics"]
        training = card["training"]
        scalars = {k: v for k, v in metrics.items() if not isinstance(v, (dict, list))}
        per_class = metrics.get("per_class")
        table: list[str] = []
        if isinstance(per_class, dict) and per_class:
            columns = _columns(per_class)
            table = ["", "### Per class", "", "| class | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
            for name, values in per_class.items():
                row = [_fmt(values.get(col)) if isinstance(values, dict) else _fmt(values) for col in columns]
                table.append(f"| {markdown_text(name)} | " + " | ".join(row) + " |")
        return render_template(
            "model_card.md",
            project=card["project"] or "model",
            version=card["version"],
            created_at=card["created_at"],
            algorithm=card["algorithm"],
            backbone=card["backbone"],
            input_format=card["input"]["format"],
            input_shape=card["input"]["shape"],
            output=card["output"],
            steps=training["steps"],
            seconds=f"{training['seconds']:.1f}",
            last_round_steps=training["last_round"]["steps"],
            last_round_seconds=f"{training['last_round']['seconds']:.1f}",
            classes=_block(f"{index}. {markdown_text(name)}" for index, name in enumerate(card["classes"])),
            data=_block(f"- {key}: {value}" for key, value in card["data"].items()),
            metrics=_block([f"- {key}: {_fmt(value)}" for key, value in scalars.items()] or ["- none recorded"]),
            per_class=_block(table),
            deployment=_block(deployment_lines(self.deployment)),
        )


def render_template(name: str, **values: Any) -> str:
    """``sslengine/templates/<name>`` with ``$name`` placeholders filled (:class:`string.Template`)."""
    text = resources.files(__package__).joinpath(TEMPLATES, name).read_text(encoding="utf-8")
    return string.Template(text).substitute({key: str(value) for key, value in values.items()})


def _block(lines: Iterable[str]) -> str:
    """Lines for a template placeholder that starts a line: each line ends with a newline, so an
    empty block leaves no blank line behind."""
    return "".join(f"{line}\n" for line in lines)


# CommonMark lets a backslash escape any ASCII punctuation: these start inline markup anywhere
# (emphasis, code, links, HTML, entities, table cells, strike-through) ...
_MARKDOWN_INLINE = frozenset("\\`*_[]<>|&~")
# ... and a leading "1." / "1)" would open a list of its own inside the card's list item.
_LEADING_ORDINAL = re.compile(r"^(\d+)([.)])")


def markdown_text(text: str) -> str:
    """``text`` as literal Markdown inline text, where the card writes a class name (after ``N. `` or
    ``| ``): inline markup characters backslash-escaped, and a leading character that could open a
    block (``#``, ``-``, ``+``, ``>``, ``=``, ``1.``) escaped too; line breaks and other control or
    space characters become plain spaces, so a name can never start a line of its own."""
    flat = "".join(" " if ch.isspace() or unicodedata.category(ch) == "Cc" else ch for ch in text).strip()
    escaped = "".join("\\" + ch if ch in _MARKDOWN_INLINE else ch for ch in flat)
    if escaped[:1] in ("#", "-", "+", ">", "=", "."):
        return "\\" + escaped
    return _LEADING_ORDINAL.sub(r"\1\\\2", escaped)


def _columns(per_class: dict[str, Any]) -> list[str]:
    first = next(iter(per_class.values()))
    return list(first) if isinstance(first, dict) else ["value"]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)


def predict_example(fmt: str, meta: ExportMetadata) -> str:
    """A short, runnable Python script that classifies image files with the exported model next to it
    (``templates/predict.py.txt`` with the format's loader, ``templates/predict_<fmt>.py.txt``)."""
    if fmt not in FILE_NAMES:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {FORMATS}")
    loader = render_template(
        f"predict_{fmt}.py.txt", file=FILE_NAMES[fmt], input=INPUT_NAME, output=OUTPUT_NAME, metadata=TORCHSCRIPT_METADATA_FILE
    )
    return render_template(
        "predict.py.txt",
        version=meta.version,
        image_size=meta.image_size,
        mode="L" if meta.in_channels == 1 else "RGB",
        in_channels=meta.in_channels,
        loader=loader,
    )


def card_date(value: dt.datetime | None = None) -> str:
    """ISO 8601 UTC timestamp (now by default) for :attr:`ModelCard.created_at`."""
    return (value or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(timespec="seconds")


def write_bundle(trainer: Trainer, directory: str | Path, card: ModelCard, fmt: str) -> list[Path]:
    """Write the model (``model.onnx`` or ``model.pt``), ``model_card.json``, ``model_card.md`` and
    ``predict.py`` into ``directory``; returns the paths written."""
    if fmt not in FILE_NAMES:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {FORMATS}")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    model = export_model(trainer, folder / FILE_NAMES[fmt], card.meta, fmt)
    return [model, *_write_card_files(folder, card, fmt)]


def _write_card_files(folder: Path, card: ModelCard, fmt: str) -> list[Path]:
    texts = {CARD_JSON: card.to_json(), CARD_MARKDOWN: card.to_markdown(), PREDICT_SCRIPT: predict_example(fmt, card.meta)}
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    return [folder / name for name in texts]


# ---- int8 quantisation, latency and size ---------------------------------------------------------

INT8_FILE_NAME = "model.int8.onnx"
LATENCY_BATCHES = (1, 64)
CALIBRATION_IMAGES = 512
QUANTIZED_OPS = ("Conv",)  # the costly ops; the classifier head, pooling, softmax and preprocessing stay float


class _CalibrationImages:
    """onnxruntime's ``CalibrationDataReader`` protocol over uint8 NCHW images, 64 at a time."""

    def __init__(self, images: np.ndarray, batch: int = 64) -> None:
        self._batches = iter([{INPUT_NAME: images[start : start + batch]} for start in range(0, len(images), batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def _as_uint8_array(images: torch.Tensor | np.ndarray) -> np.ndarray:
    array = images.cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[0] == 0:
        raise ValueError(f"images must be a non-empty uint8 [N, C, H, W] array, got {array.dtype} {array.shape}")
    return np.ascontiguousarray(array)


def evenly_spaced(images: torch.Tensor | np.ndarray, count: int) -> np.ndarray:
    """``count`` images evenly spaced over ``images`` (all of them when there are fewer)."""
    array = _as_uint8_array(images)
    if len(array) <= count:
        return array
    return array[np.linspace(0, len(array) - 1, count).round().astype(np.int64)]


def quantize_onnx(
    fp32_path: str | Path, path: str | Path, calibration_images: torch.Tensor | np.ndarray, max_images: int = CALIBRATION_IMAGES
) -> Path:
    """Int8 post-training static quantisation of an exported ONNX model (onnxruntime ``quantize_static``).

    Calibrated (min/max of every activation) on up to ``max_images`` of ``calibration_images``, the
    project's own images, evenly spaced. Weights are int8 per output channel, activations uint8, in
    QDQ form (Jacob et al., CVPR 2018, as implemented by onnxruntime). The preprocessing (cast, /255,
    the backbone's mean/std) and the softmax stay float inside the graph, so the file takes the same
    uint8 images and returns probabilities; metadata is kept and ``precision`` is set to ``int8``.
    Only convolutions are quantised, and not the first one: the first and the last layer (here the
    linear classifier head) stay float, the usual choice; they cost little and, quantised, they
    flipped most of the changed predictions in our checks (agreement with fp32 on the shipped
    Fashion-MNIST subset: 97.7 % everything quantised, 98.6 % without the first convolution, 99.5 %
    without the first convolution and the head, for cnn-small after 400 FixMatch steps).
    """
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    calibration = evenly_spaced(calibration_images, max_images)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    prepared = target.with_name(f".{target.name}.pre.onnx")
    try:
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        graph = onnx.load(str(prepared))
        convolutions = [node.name for node in graph.graph.node if node.op_type == "Conv"]
        quantize_static(
            str(prepared),
            str(target),
            _CalibrationImages(calibration),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=convolutions[:1],
            op_types_to_quantize=list(QUANTIZED_OPS),
        )
    finally:
        prepared.unlink(missing_ok=True)
    proto = onnx.load(str(target))
    props = {prop.key: prop.value for prop in proto.metadata_props if not prop.key.startswith("onnx.")}
    props["precision"] = "int8"
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, props)
    onnx.save(proto, str(target))
    return target


def _session(path: str | Path, threads: int) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_probabilities(path: str | Path, images: torch.Tensor | np.ndarray, batch: int = 256, threads: int = 1) -> np.ndarray:
    """Probabilities of an exported ONNX model (fp32 or int8) with onnxruntime on the CPU."""
    array = _as_uint8_array(images)
    session = _session(path, threads)
    chunks = [session.run([OUTPUT_NAME], {INPUT_NAME: array[start : start + batch]})[0] for start in range(0, len(array), batch)]
    return np.concatenate(chunks)


def argmax_agreement(path_a: str | Path, path_b: str | Path, images: torch.Tensor | np.ndarray) -> float:
    """Fraction of ``images`` on which two ONNX models predict the same class."""
    return float((onnx_probabilities(path_a, images).argmax(1) == onnx_probabilities(path_b, images).argmax(1)).mean())


def measure_latency(
    path: str | Path,
    images: torch.Tensor | np.ndarray,
    batch_sizes: tuple[int, ...] = LATENCY_BATCHES,
    seconds: float = 1.0,
    threads: int = 1,
) -> dict[str, Any]:
    """Median wall time per image (ms) of onnxruntime on this CPU, for each batch size.

    Each batch size runs warm-up calls, then repeated calls for at least ``seconds`` (and 5 calls);
    the median call time divided by the batch size is reported (the median resists other processes'
    bursts on a shared machine). ``threads`` onnxruntime intra-op threads; the images are repeated
    when there are fewer than a batch.
    """
    array = _as_uint8_array(images)
    session = _session(path, threads)
    per_image: dict[str, float] = {}
    for batch in batch_sizes:
        feed = {INPUT_NAME: np.ascontiguousarray(np.resize(array, (batch, *array.shape[1:])))}
        for _ in range(3):
            session.run([OUTPUT_NAME], feed)
        times: list[float] = []
        started = time.perf_counter()
        while len(times) < 5 or time.perf_counter() - started < seconds:
            tick = time.perf_counter()
            session.run([OUTPUT_NAME], feed)
            times.append(time.perf_counter() - tick)
        per_image[str(batch)] = statistics.median(times) / batch * 1000.0
    return {
        "ms_per_image": per_image,
        "threads": threads,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "load_average_1m": os.getloadavg()[0],
    }


def deployment_facts(path: str | Path, images: torch.Tensor | np.ndarray, seconds: float = 1.0) -> dict[str, Any]:
    """Size on disk and measured latency of one exported model file (for :attr:`ModelCard.deployment`)."""
    facts: dict[str, Any] = {"file": Path(path).name, "size_bytes": Path(path).stat().st_size}
    if Path(path).suffix == ".onnx":
        facts["latency"] = measure_latency(path, images, seconds=seconds)
    return facts


def write_measured_onnx_bundle(
    trainer: Trainer,
    directory: str | Path,
    card: ModelCard,
    images: torch.Tensor | np.ndarray,
    int8: bool = False,
    latency_seconds: float = 1.0,
) -> list[Path]:
    """:func:`write_bundle` for ONNX, with the file's size and measured latency in the card.

    With ``int8`` the bundle's ``model.onnx`` is the :func:`quantize_onnx` version calibrated on
    ``images`` (the project's own), and the card also gives the fp32 file's size and latency and the
    share of ``images`` on which both predict the same class. ``card.deployment`` entries given by
    the caller (a distillation's accuracies) are kept.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / FILE_NAMES["onnx"]
    if int8:
        fp32 = export_onnx(trainer, folder / f".fp32.{FILE_NAMES['onnx']}", card.meta)
        try:
            quantize_onnx(fp32, model, images)
            facts = {
                "precision": "int8",
                **deployment_facts(model, images, latency_seconds),
                "agreement_with_fp32": argmax_agreement(fp32, model, images),
                "fp32": deployment_facts(fp32, images, latency_seconds),
            }
        finally:
            fp32.unlink(missing_ok=True)
    else:
        export_onnx(trainer, model, card.meta)
        facts = {"precision": "fp32", **deployment_facts(model, images, latency_seconds)}
    card = replace(card, deployment={**card.deployment, **facts})
    return [model, *_write_card_files(folder, card, "onnx")]


def _latency_text(facts: dict[str, Any]) -> str:
    latency = facts.get("latency") or {}
    per_image = latency.get("ms_per_image", {})
    parts = [f"batch {batch}: {ms:.3f} ms/image" for batch, ms in per_image.items()]
    return "; ".join(parts) + (f" (onnxruntime, {latency['threads']} thread(s), {latency['machine']})" if parts else "")


def deployment_lines(deployment: dict[str, Any]) -> list[str]:
    """Markdown lines of :attr:`ModelCard.deployment` (nothing when it is empty)."""
    if not deployment:
        return []
    lines = ["", "## Deployment", ""]
    if "precision" in deployment:
        lines.append(f"- Precision: {deployment['precision']}")
    if "size_bytes" in deployment:
        lines.append(f"- Size on disk: {deployment['size_bytes'] / 1e6:.3f} MB")
    if deployment.get("latency"):
        lines.append(f"- Latency: {_latency_text(deployment)}")
    fp32 = deployment.get("fp32")
    if isinstance(fp32, dict):
        lines.append(f"- fp32 original: {fp32['size_bytes'] / 1e6:.3f} MB; {_latency_text(fp32)}")
    if "agreement_with_fp32" in deployment:
        lines.append(f"- Same predicted class as the fp32 model on {deployment['agreement_with_fp32']:.2%} of the project's images")
    distillation = deployment.get("distillation")
    if isinstance(distillation, dict):
        lines += ["", "### Distillation", "", f"- {distillation.get('summary', '')}", "", "| model | " + " | ".join(DISTILLATION_COLUMNS) + " |"]
        lines.append("|---" * (len(DISTILLATION_COLUMNS) + 1) + "|")
        for role in ("teacher", "student"):
            values = distillation.get(role, {})
            lines.append(f"| {role}: {values.get('name', '')} | " + " | ".join(_fmt(values.get(col)) for col in DISTILLATION_COLUMNS) + " |")
    return lines


DISTILLATION_COLUMNS = ("running_accuracy", "holdout_accuracy", "holdout_size", "agreement_with_teacher")
