"""Rules about shipping a model: its quantized form, and what the file reveals."""

from __future__ import annotations

import re

from compatcheck.findings import Severity
from compatcheck.model.graph import ModelGraph
from compatcheck.plan.quant import FLOAT16_WEIGHTS, FLOAT32, quantization_state
from compatcheck.rules.base import Context, rule


@rule(
    "CC420",
    "quantization-form",
    Severity.WARNING,
    "engine",
    fixable=True,
    also=(Severity.INFO,),
)
def quantization_form(ctx: Context):
    """
    What it checks:
        The model's quantization form (float16 weights, int8 as QDQ pairs,
        int8 operators such as QLinearConv, dynamic quantization,
        full-integer TFLite) against the forms the engine is documented to
        run, and the session option that turns it on.

    Why it breaks:
        Engines run one form of int8: WeChat's ``allowQuantize`` expects
        QuantizeLinear/DequantizeLinear pairs, as its own quantization tool
        exports them; QLinearConv and MatMulInteger are not in its operator
        table at all. A form the engine does not document may load as float
        (no speed-up) or not load.

    Example:
        A QDQ model on WeChat gets an info finding asking for
        ``allowQuantize: true``; a model of QLinearConv nodes warns and is
        told to re-quantize in QDQ form. Float32 models, and models whose
        only change is float16 weights, pass.

    Fix:
        Quantize in the form the engine documents (for WeChat: QDQ, e.g.
        onnxruntime's ``quantize_static(..., quant_format=QuantFormat.QDQ)``
        or WeChat's own tool), or ship the float model. Quantization trades
        accuracy for size and speed: measure accuracy before choosing it.

    Limitations:
        The form is read from operator types and tensor types, not from
        how the model was trained; mixed models are reported by their most
        specific form. Engines with no documented forms give an info
        finding marked unverified.
    """
    # The form the engine receives: a conversion can change it (tf2onnx
    # writes quantized TFLite tensors as QDQ pairs).
    state = quantization_state(ctx.model)
    if state.form in (FLOAT32, FLOAT16_WEIGHTS):
        # float16 weights are widened by Cast or Dequantize operators, which
        # the operator rules check; the engine's forms are 8-bit forms.
        return
    fact = ctx.engine.quantized_forms
    ctx.rely(fact)
    where = f"{ctx.engine.title}"
    subject = "the converted model" if ctx.route and ctx.route.steps else "the model"
    found = f"quantization of {subject}: {state.description} ({state.evidence})"
    if fact is None or not fact.known:
        yield quantization_form.finding(
            f"{found}; whether {where} runs this form is not documented",
            "measure speed and accuracy on a phone, or ship the float model",
            severity=Severity.INFO,
            fact=fact,
        )
        return
    if state.form in fact.value:
        option = _quantize_option(ctx)
        yield quantization_form.finding(
            f"{found}, a form {where} runs{option}",
            f"keep it if accuracy measured on your data is acceptable{option}",
            severity=Severity.INFO,
            fact=fact,
        )
        return
    forms = ", ".join(fact.value)
    fix = f"quantize again in {forms} form, or ship the float model"
    if "qdq" in fact.value and not subject.startswith("the converted"):
        fix += "; from the float model, compatcheck fix --unsafe-fixes --quantize int8"
    yield quantization_form.finding(
        f"{found}; {where} documents only {forms}", fix, fact=fact
    )


def _quantize_option(ctx: Context) -> str:
    fact = ctx.engine.options.get("allowQuantize")
    return "" if fact is None else " with allowQuantize: true"


@rule("CC600", "plaintext-model", Severity.INFO, "platform")
def plaintext_model(ctx: Context):
    """
    What it checks:
        Whether the platform offers a way to ship the model encrypted and
        still load it; the finding says what the options are.

    Why it breaks:
        Nothing fails. A model in the code package or in the user data
        folder is a plain file anyone with the app or a rooted phone can
        copy, and with it the weights that cost the training.

    Example:
        Every model on WeChat gets this note: the engine loads only a
        plaintext ``.onnx`` path, so even a model shipped encrypted sits
        decrypted on disk while the session is created.

    Fix:
        If the weights are sensitive, keep the model on a server and call
        it over HTTPS. Otherwise ship it encrypted, decrypt it in
        JavaScript, write the plaintext to the user data folder, create the
        session and delete the file at once; this raises the bar, it does
        not close the gap.

    Limitations:
        Only what the platform documents is known; obfuscation services of
        individual vendors are not covered.
    """
    if not ctx.routes:
        return
    # Informational only: the verdict does not depend on this fact.
    fact = ctx.profile.security.get("model_encryption")
    title = ctx.profile.title
    if fact is not None and fact.known and fact.value != "none":
        yield plaintext_model.finding(
            f"{title} offers model encryption: {fact.value}",
            "use it for models whose weights are sensitive",
            fact=fact,
        )
        return
    if fact is not None and fact.value == "none":
        detail = f"{title} offers no model encryption ({fact.cite()})"
    else:
        detail = f"no model encryption is documented for {title} (unknown)"
    yield plaintext_model.finding(
        f"the model file ships in plaintext and anyone can copy it: {detail}",
        "keep a sensitive model on a server; otherwise ship it encrypted, decrypt "
        "it in JavaScript, write it to the user data folder, create the session "
        "and delete the file at once",
        fact=fact,
    )


# Local paths in text a model carries: /home/<user>, /Users/<user>,
# C:\Users\<user>, and other absolute Unix or Windows paths.
_USER_PATH = re.compile(
    r"(?:/home/|/Users/|[A-Za-z]:\\Users\\|[A-Za-z]:/Users/)([^/\\\s\"':]+)"
)
_ANY_PATH = re.compile(r"(?:^|[\s\"'(=])((?:/[\w.@+-]+){2,}|[A-Za-z]:\\[\w.@+ -]+)")


@rule("CC601", "build-metadata", Severity.WARNING, "platform", also=(Severity.INFO,))
def build_metadata(ctx: Context):
    """
    What it checks:
        Text a model file carries about how it was built: local file paths
        and the user names in them, documentation strings, metadata
        properties and the producer string.

    Why it breaks:
        Nothing fails to load. A shipped model is public; a path such as
        ``/home/alice/train/v3/ckpt.pt`` tells readers who built it and
        how the project is laid out, and doc strings can hold source code.

    Example:
        A node ``doc_string`` holding ``/Users/alice/src/model.py(42)``
        warns and names the user; a model whose only such text is the
        producer ``pytorch 2.1.0`` gets an info finding.

    Fix:
        Clear the fields before shipping: in Python,
        ``m.doc_string = ""; m.producer_name = ""``, clear each node's
        ``doc_string`` and ``del m.metadata_props[:]``, then
        ``onnx.save(m, out)``. For TFLite, write the metadata again without
        the paths.

    Limitations:
        Paths are found by pattern (absolute Unix paths with two or more
        parts, Windows drive paths); names of graphs, nodes and tensors are
        not scanned, and only the first line of each doc string is kept.
    """
    found = _leaks(ctx.model)
    if found is None:
        return
    severity, message = found
    yield build_metadata.finding(
        message,
        "clear doc strings, metadata properties and the producer before shipping "
        "(compatcheck explain CC601 shows how)",
        severity=severity,
        key="build-metadata",
    )


def _leaks(model: ModelGraph) -> tuple[Severity, str] | None:
    if "leaks" not in model.shared:
        model.shared["leaks"] = _find_leaks(model)
    return model.shared["leaks"]


def _find_leaks(model: ModelGraph) -> tuple[Severity, str] | None:
    texts = [(where, text) for where, text in model.doc_strings]
    texts += [(f"metadata {key!r}", value) for key, value in model.metadata.items()]
    texts += [(f"metadata key {key!r}", key) for key in model.metadata]
    users = sorted({m.group(1) for _, t in texts for m in _USER_PATH.finditer(t)})
    paths = [(w, m.group(1)) for w, t in texts for m in _ANY_PATH.finditer(t)]
    parts = []
    if users:
        parts.append(f"user name(s) {', '.join(users)}")
    if paths:
        where, path = paths[0]
        parts.append(f"{len(paths)} local path(s), first {path!r} in {where}")
    severity = Severity.WARNING if parts else Severity.INFO
    if model.doc_strings:
        where, text = model.doc_strings[0]
        parts.append(
            f"{len(model.doc_strings)} doc string(s), first in {where}: "
            f"{_short(text)!r}"
        )
    if model.format == "onnx" and model.metadata:
        parts.append(f"metadata properties {', '.join(sorted(model.metadata))}")
    if model.format == "onnx" and model.producer:
        parts.append(f"producer {model.producer!r}")
    if not parts:
        return None
    return severity, "the model file reveals build details: " + "; ".join(parts)


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."
