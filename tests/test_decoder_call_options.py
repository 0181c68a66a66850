"""transformers' call options on OPT and Pegasus: hidden states, attentions (self and cross),
head masks, `inputs_embeds`, Pegasus position ids, loss from labels, `return_dict=False`, and
incremental decoding with `use_cache` / `past_key_values`; all against transformers 5 eager
attention at 1e-5."""

import copy

import keras
import numpy as np
import pytest
import torch
import transformers

import keras_models
from keras_models.layers.sinusoidal_embedding import sinusoidal_table
from tests.families import FAMILIES
from tests.helpers import assert_close, save_hf

OPT, PEGASUS = FAMILIES["opt"], FAMILIES["pegasus"]
#: Refusals and argument routing do not compute: checked once, on torch.
routing = pytest.mark.skipif(
    keras.backend.backend() != "torch", reason="backend-independent routing, run on torch"
)

# OPT: row 1 is left padded (OPT's pad id is 1), so positions and masks are exercised.
OPT_IDS = np.array([[2, 5, 6, 7, 8, 9], [1, 1, 2, 10, 11, 12]], "int32")
OPT_MASK = np.array([[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1]], "int32")
# Pegasus: the encoder input of row 1 is right padded (pad 0, eos 1).
SRC = np.array([[5, 6, 7, 8, 1], [9, 10, 1, 0, 0]], "int32")
SRC_MASK = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], "int32")
TGT = np.array([[0, 5, 6, 7, 8], [0, 9, 10, 11, 12]], "int32")


def _numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _hf(model, **kwargs):
    def tensor(v):
        return torch.tensor(np.asarray(v)) if isinstance(v, np.ndarray) else v

    with torch.no_grad():
        return model(**{k: tensor(v) for k, v in kwargs.items()})


def _compare_attentions(ours, theirs, query_mask=None):
    """`[batch, heads, query, key]` probabilities, on the queries `query_mask` keeps."""
    assert len(ours) == len(theirs) and len(ours) > 0
    for a, b in zip(ours, theirs):
        assert_close(np.swapaxes(_numpy(a), 1, 2), np.swapaxes(b.numpy(), 1, 2), query_mask)


def _compare_states(ours, theirs, mask=None):
    assert len(ours) == len(theirs) and len(ours) > 0
    for a, b in zip(ours, theirs):
        assert_close(a, b, mask)


def _hf_names(output):
    """transformers' output names (its cache is our `past_key_values`)."""
    return ["past_key_values" if k == "cache" else k for k in output.keys()]


def _scaled_value_heads(hf_model, attention_paths, factors):
    """A copy of `hf_model` whose attention value projections are scaled per head: the exact
    equivalent of transformers 4.x's head mask (it multiplies the probabilities, which then
    weight the values linearly)."""
    model = copy.deepcopy(hf_model)
    with torch.no_grad():
        for path, layer_factors in zip(attention_paths, factors):
            v_proj = model.get_submodule(path).v_proj
            head_dim = v_proj.out_features // len(layer_factors)
            for head, factor in enumerate(layer_factors):
                rows = slice(head * head_dim, (head + 1) * head_dim)
                v_proj.weight[rows] *= float(factor)
                v_proj.bias[rows] *= float(factor)
    return model


# --- OPT -------------------------------------------------------------------------------------
OPT_CONFIG = dict(num_hidden_layers=2, num_labels=3, attn_implementation="eager")
OPT_HEADS = ("CausalLM", "SequenceClassification", "QuestionAnswering")


@pytest.fixture(scope="module")
def opt(tmp_path_factory):
    """Per head: (ours, transformers'), from one seeded checkpoint each; the backbone pair
    comes from the causal LM checkpoint (its `model` is `OPTModel`)."""
    models = {}
    for head in OPT_HEADS:
        directory = tmp_path_factory.mktemp(f"opt_{head}")
        config = OPT.tiny_config(**OPT_CONFIG)
        hf = save_hf(getattr(transformers, f"OPTFor{head}"), config, directory)
        models[head] = (getattr(keras_models, f"OPTFor{head}").from_preset(str(directory)), hf)
        if head == "CausalLM":
            models["Model"] = (keras_models.OPTBackbone.from_preset(str(directory)), hf.model)
            models["directory"] = str(directory)
    return models


def _opt_labels(head):
    if head == "CausalLM":
        labels = np.where(OPT_MASK == 1, OPT_IDS, -100).astype("int64")
        # Never predicted from a real token: the padding rows' outputs are not compared (a
        # query that sees no key gives zeros here, a uniform average in transformers).
        labels[1, 2] = -100
        return {"labels": labels}
    if head == "SequenceClassification":
        return {"labels": np.array([2, 0], "int64")}
    if head == "QuestionAnswering":
        return {"start_positions": np.array([1, 3]), "end_positions": np.array([4, 5])}
    return {}


@pytest.mark.parametrize("head", ("Model",) + OPT_HEADS)
def test_opt_hidden_states_attentions_loss_and_tuple(opt, head):
    ours, hf = opt[head]
    x = {"input_ids": OPT_IDS, "attention_mask": OPT_MASK}
    labels = _opt_labels(head)
    theirs = _hf(hf, **x, **labels, output_hidden_states=True, output_attentions=True)
    out = ours(x, **labels, output_hidden_states=True, output_attentions=True)
    assert list(out) == [k for k in _hf_names(theirs) if k != "past_key_values"]
    layers = OPT_CONFIG["num_hidden_layers"]
    assert len(out.hidden_states) == layers + 1
    # The last entry is `last_hidden_state`: after the final LayerNorm and `project_out`.
    assert out.hidden_states[-1].shape[-1] == OPT.tiny["word_embed_proj_dim"]
    _compare_states(out.hidden_states, theirs.hidden_states, OPT_MASK)
    _compare_attentions(out.attentions, theirs.attentions, OPT_MASK)
    for name in out:
        if name not in ("hidden_states", "attentions", "loss"):
            mask = OPT_MASK if out[name].shape[:2] == OPT_MASK.shape else None
            assert_close(out[name], getattr(theirs, name), mask)
    if labels:
        np.testing.assert_allclose(float(_numpy(out.loss)), float(theirs.loss), atol=1e-5)
    # `return_dict=False`: the same values as a tuple, in transformers' order (loss first).
    as_tuple = ours(x, **labels, output_attentions=True, return_dict=False)
    assert isinstance(as_tuple, tuple)
    expected = [k for k in out if k != "hidden_states"]
    assert len(as_tuple) == len(expected)
    assert_close(as_tuple[expected.index("attentions")][0], _numpy(out.attentions[0]))
    # Without the flags the graph runs and returns neither.
    assert "attentions" not in ours(x) and "hidden_states" not in ours(x)


@pytest.mark.parametrize("head", ("Model", "CausalLM", "SequenceClassification"))
def test_opt_inputs_embeds(opt, head):
    ours, hf = opt[head]
    embeds = _numpy(opt["Model"][0].token_embedding.embeddings)[OPT_IDS]
    theirs = _hf(hf, inputs_embeds=embeds, attention_mask=OPT_MASK, output_hidden_states=True)
    out = ours(inputs_embeds=embeds, attention_mask=OPT_MASK, output_hidden_states=True)
    name = "last_hidden_state" if head == "Model" else "logits"
    # transformers' sequence classifier reads the last position when given vectors.
    mask = None if head == "SequenceClassification" else OPT_MASK
    assert_close(out[name], getattr(theirs, name), mask)
    _compare_states(out.hidden_states, theirs.hidden_states, OPT_MASK)
    # Without a mask transformers' defaults apply (all visible, positions 0, 1, ...).
    assert_close(ours(inputs_embeds=embeds)[name], getattr(_hf(hf, inputs_embeds=embeds), name))
    # The dict and list forms take them too (list: ..., head_mask, past_key_values, embeds).
    listed = ours([None, OPT_MASK, None, None, None, embeds])
    assert_close(listed[name], getattr(theirs, name), mask)


@pytest.mark.parametrize("form", ["layers_heads", "heads"])
def test_opt_head_mask_equals_scaled_value_heads(opt, form):
    ours, hf = opt["CausalLM"]
    heads = OPT.tiny["num_attention_heads"]
    factors = np.array([[0.0, 1.0], [0.5, 2.0]], "float32")[:, :heads]
    if form == "heads":
        factors = np.array([0.0, 0.5], "float32")[:heads]
    per_layer = factors if factors.ndim == 2 else np.stack([factors] * 2)
    paths = [f"model.decoder.layers.{i}.self_attn" for i in range(2)]
    scaled = _scaled_value_heads(hf, paths, per_layer)
    x = {"input_ids": OPT_IDS, "attention_mask": OPT_MASK}
    theirs = _hf(scaled, **x)
    assert not np.allclose(theirs.logits.numpy(), _hf(hf, **x).logits.numpy(), atol=1e-3)
    assert_close(ours(x, head_mask=factors).logits, theirs.logits, OPT_MASK)
    # The backbone takes it in its list form too (after position_ids).
    backbone, _ = opt["Model"]
    listed = backbone([OPT_IDS, OPT_MASK, None, factors])
    assert_close(listed.last_hidden_state, _hf(scaled.model, **x).last_hidden_state, OPT_MASK)


def _split_calls(model, x, splits, **options):
    """Runs `x` in chunks ending at `splits`, each continuing the previous `past_key_values`
    (with the mask of everything so far, as in transformers); returns each chunk's outputs."""
    outputs, past, start = [], None, 0
    for end in splits:
        chunk = {
            "input_ids": x["input_ids"][:, start:end],
            "attention_mask": x["attention_mask"][:, :end],
        }
        out = model(chunk, use_cache=True, past_key_values=past, **options)
        past, start = out.past_key_values, end
        outputs.append(out)
    return outputs


@pytest.mark.parametrize("head", ["Model", "CausalLM"])
def test_opt_cache_continues_as_one_pass(opt, head):
    ours, hf = opt[head]
    name = "last_hidden_state" if head == "Model" else "logits"
    x = {"input_ids": OPT_IDS, "attention_mask": OPT_MASK}
    full = _hf(hf, **x)
    chunks = _split_calls(ours, x, (3, 5, 6))
    result = np.concatenate([_numpy(out[name]) for out in chunks], axis=1)
    assert_close(result, getattr(full, name), OPT_MASK)
    # The cache: per layer keys and values, [batch, heads, length, head_dim].
    past = chunks[-1].past_key_values
    heads = OPT.tiny["num_attention_heads"]
    assert len(past) == OPT_CONFIG["num_hidden_layers"]
    assert tuple(past[0][0].shape) == (2, heads, 6, OPT.tiny["hidden_size"] // heads)
    # Attentions of a continued call cover the cached keys, as transformers' do.
    first = _hf(hf, input_ids=OPT_IDS[:, :4], attention_mask=OPT_MASK[:, :4], use_cache=True)
    theirs = _hf(
        hf,
        input_ids=OPT_IDS[:, 4:],
        attention_mask=OPT_MASK,
        cache=first.cache,
        output_attentions=True,
    )
    mine = ours({"input_ids": OPT_IDS[:, :4], "attention_mask": OPT_MASK[:, :4]}, use_cache=True)
    mine = ours(
        {"input_ids": OPT_IDS[:, 4:], "attention_mask": OPT_MASK},
        past_key_values=mine.past_key_values,
        output_attentions=True,
    )
    _compare_attentions(mine.attentions, theirs.attentions)
    assert list(mine)[:2] == ([name, "past_key_values"])


def test_opt_constructor_flags_build_the_graph_outputs(opt):
    _, hf = opt["Model"]
    backbone = keras_models.OPTBackbone.from_preset(
        opt["directory"], output_hidden_states=True, output_attentions=True
    )
    assert {"hidden_states", "attentions"} <= set(backbone.output)
    x = {"input_ids": OPT_IDS, "attention_mask": OPT_MASK}
    theirs = _hf(hf, **x, output_hidden_states=True, output_attentions=True)
    out = backbone(x)
    _compare_states(out.hidden_states, theirs.hidden_states, OPT_MASK)
    _compare_attentions(out.attentions, theirs.attentions, OPT_MASK)
    assert "attentions" not in backbone(x, output_attentions=False)
    # The task graph carries them, and so does a user's functional model around it.
    task = keras_models.OPTForCausalLM(backbone)
    ids = keras.Input(shape=(None,), dtype="int32")
    attentions = task(ids)["attentions"]
    user = keras.Model(ids, attentions[-1])
    expected = _hf(hf, input_ids=OPT_IDS, output_attentions=True).attentions[-1]
    assert_close(user.predict(OPT_IDS, verbose=0), expected)


@routing
def test_opt_refuses_what_it_cannot_honour(opt):
    ours, _ = opt["CausalLM"]
    with pytest.raises(ValueError, match="`cross_attn_head_mask`"):
        ours(OPT_IDS, cross_attn_head_mask=np.ones(2))
    with pytest.raises(ValueError, match="`decoder_head_mask`"):
        ours(OPT_IDS, decoder_head_mask=np.ones(2))
    with pytest.raises(ValueError, match="`head_mask` must have shape"):
        ours(OPT_IDS, head_mask=np.ones(3))
    with pytest.raises(ValueError, match="`input_ids` or `inputs_embeds`"):
        ours(OPT_IDS, inputs_embeds=np.ones((2, 6, 8), "float32"))
    past = ours(OPT_IDS, use_cache=True).past_key_values
    with pytest.raises(ValueError, match="`past_key_values` holds 1 layers"):
        ours(OPT_IDS[:, :1], past_key_values=past[:1])
    with pytest.raises(ValueError, match="`attention_mask` has shape"):
        ours({"input_ids": OPT_IDS[:, :1], "attention_mask": OPT_MASK}, past_key_values=past)
    with pytest.raises(ValueError, match="past_key_values"):
        ours.predict({"input_ids": OPT_IDS, "past_key_values": past}, verbose=0)
    # A list item of the wrong kind for its position is refused, naming the input.
    with pytest.raises(ValueError, match="`past_key_values` must be what a call"):
        ours([OPT_IDS, OPT_MASK, None, None, OPT_MASK])
    with pytest.raises(ValueError, match="`head_mask` must have shape"):
        ours([OPT_IDS, OPT_MASK, None, past])
    # An encoder has no incremental decoding.
    roberta = keras_models.RobertaForMaskedLM.from_preset("roberta_tiny")
    with pytest.raises(ValueError, match="use_cache.*is_decoder=False"):
        roberta(np.array([[0, 5, 6]]), use_cache=True)


# --- Pegasus ---------------------------------------------------------------------------------
PEGASUS_CONFIG = dict(encoder_layers=2, decoder_layers=2, attn_implementation="eager")


@pytest.fixture(scope="module")
def pegasus(tmp_path_factory):
    """(ours, transformers') for the seq2seq LM, its `PegasusModel`, and the causal LM."""
    directory = tmp_path_factory.mktemp("pegasus")
    hf = save_hf(
        transformers.PegasusForConditionalGeneration,
        PEGASUS.tiny_config(**PEGASUS_CONFIG),
        directory,
    )
    causal_dir = tmp_path_factory.mktemp("pegasus_causal")
    causal = save_hf(
        transformers.PegasusForCausalLM,
        PEGASUS.tiny_config(**PEGASUS_CONFIG, is_encoder_decoder=False),
        causal_dir,
    )
    return {
        "ConditionalGeneration": (
            keras_models.PegasusForConditionalGeneration.from_preset(str(directory)),
            hf,
        ),
        "Model": (keras_models.PegasusBackbone.from_preset(str(directory)), hf.model),
        "CausalLM": (keras_models.PegasusForCausalLM.from_preset(str(causal_dir)), causal),
        "directory": str(directory),
    }


SEQ2SEQ_X = {"input_ids": SRC, "attention_mask": SRC_MASK, "decoder_input_ids": TGT}


@pytest.mark.parametrize("head", ["Model", "ConditionalGeneration"])
def test_pegasus_hidden_states_attentions_loss_and_tuple(pegasus, head):
    ours, hf = pegasus[head]
    labels = {"labels": TGT[:, 1:].astype("int64")} if head != "Model" else {}
    x = dict(SEQ2SEQ_X, decoder_input_ids=TGT[:, :-1])
    theirs = _hf(hf, **x, **labels, output_hidden_states=True, output_attentions=True)
    out = ours(x, **labels, output_hidden_states=True, output_attentions=True)
    assert list(out) == [k for k in _hf_names(theirs) if k != "past_key_values"]
    _compare_states(out.encoder_hidden_states, theirs.encoder_hidden_states, SRC_MASK)
    _compare_states(out.decoder_hidden_states, theirs.decoder_hidden_states)
    _compare_attentions(out.encoder_attentions, theirs.encoder_attentions, SRC_MASK)
    _compare_attentions(out.decoder_attentions, theirs.decoder_attentions)
    _compare_attentions(out.cross_attentions, theirs.cross_attentions)
    assert_close(out.encoder_last_hidden_state, theirs.encoder_last_hidden_state, SRC_MASK)
    name = "last_hidden_state" if head == "Model" else "logits"
    assert_close(out[name], getattr(theirs, name))
    if labels:
        np.testing.assert_allclose(float(_numpy(out.loss)), float(theirs.loss), atol=1e-5)
        # Labels alone: decoder inputs shifted from them, as transformers.
        alone = ours({"input_ids": SRC, "attention_mask": SRC_MASK}, **labels)
        np.testing.assert_allclose(
            float(_numpy(alone.loss)),
            float(_hf(hf, **{"input_ids": SRC, "attention_mask": SRC_MASK}, **labels).loss),
            atol=1e-5,
        )
    as_tuple = ours(x, **labels, output_attentions=True, return_dict=False)
    expected = [k for k in out if not k.endswith("hidden_states")]
    assert len(as_tuple) == len(expected)
    assert_close(as_tuple[expected.index("cross_attentions")][1], _numpy(out.cross_attentions[1]))


def test_pegasus_causal_lm_options(pegasus):
    ours, hf = pegasus["CausalLM"]
    labels = TGT.astype("int64")
    theirs = _hf(
        hf, input_ids=TGT, labels=labels, output_hidden_states=True, output_attentions=True
    )
    out = ours(TGT, labels=labels, output_hidden_states=True, output_attentions=True)
    # transformers returns an empty `cross_attentions` without encoder states; we leave it out.
    assert list(out) == [
        k for k in _hf_names(theirs) if k not in ("past_key_values", "cross_attentions")
    ]
    np.testing.assert_allclose(float(_numpy(out.loss)), float(theirs.loss), atol=1e-5)
    _compare_states(out.hidden_states, theirs.hidden_states)
    _compare_attentions(out.attentions, theirs.attentions)
    embeds = _numpy(ours.backbone.token_embedding.embeddings)[TGT]
    assert_close(ours(inputs_embeds=embeds).logits, _hf(hf, inputs_embeds=embeds).logits)
    full = _hf(hf, input_ids=TGT)
    chunks = _split_calls(ours, {"input_ids": TGT, "attention_mask": np.ones_like(TGT)}, (2, 5))
    assert_close(np.concatenate([_numpy(c.logits) for c in chunks], 1), full.logits)
    assert len(chunks[-1].past_key_values[0]) == 2  # no cross-attention entries


def test_pegasus_inputs_embeds_scaling_follows_transformers(pegasus):
    """transformers 5: the encoder adds positions to given vectors as they are, the decoder
    multiplies them by sqrt(d_model) first."""
    assert PEGASUS.tiny["scale_embedding"]  # otherwise the difference would not show
    ours, hf = pegasus["ConditionalGeneration"]
    table = _numpy(ours.backbone.token_embedding.embeddings)
    kwargs = dict(
        inputs_embeds=table[SRC], attention_mask=SRC_MASK, decoder_inputs_embeds=table[TGT]
    )
    theirs = _hf(hf, **kwargs)
    out = ours(**kwargs)
    assert_close(out.logits, theirs.logits)
    assert_close(out.encoder_last_hidden_state, theirs.encoder_last_hidden_state, SRC_MASK)
    # Given unscaled, the encoder's vectors differ from its own lookup (which scales).
    assert not np.allclose(_numpy(ours(SEQ2SEQ_X).logits), _numpy(out.logits), atol=1e-3)
    # The list form: ..., past_key_values, inputs_embeds, decoder_inputs_embeds.
    listed = ours(
        [None, SRC_MASK, None, None, None, None, None, None, None, None, table[SRC], table[TGT]]
    )
    assert_close(listed.logits, theirs.logits)


def test_pegasus_head_masks_equal_scaled_value_heads(pegasus):
    ours, hf = pegasus["ConditionalGeneration"]
    masks = {
        "head_mask": (
            np.array([[0.0, 1.0], [0.5, 1.5]], "float32"),
            "model.encoder.layers.{}.self_attn",
        ),
        "decoder_head_mask": (
            np.array([[1.0, 0.0], [2.0, 0.5]], "float32"),
            "model.decoder.layers.{}.self_attn",
        ),
        "cross_attn_head_mask": (
            np.array([0.0, 0.5], "float32"),
            "model.decoder.layers.{}.encoder_attn",
        ),
    }
    scaled = hf
    for factors, path in masks.values():
        per_layer = factors if factors.ndim == 2 else np.stack([factors] * 2)
        scaled = _scaled_value_heads(scaled, [path.format(i) for i in range(2)], per_layer)
    theirs = _hf(scaled, **SEQ2SEQ_X)
    out = ours(SEQ2SEQ_X, **{name: factors for name, (factors, _) in masks.items()})
    assert_close(out.logits, theirs.logits)
    assert_close(out.encoder_last_hidden_state, theirs.encoder_last_hidden_state, SRC_MASK)
    # Each mask matters on its own: leaving one out changes the logits.
    for name in masks:
        partial = {k: f for k, (f, _) in masks.items() if k != name}
        assert not np.allclose(
            _numpy(ours(SEQ2SEQ_X, **partial).logits), _numpy(out.logits), atol=1e-4
        )


def test_pegasus_position_ids_index_the_sinusoid_table(pegasus):
    """Flax Pegasus' `position_ids` / `decoder_position_ids`: rows of the table. transformers 5's
    PyTorch model takes none, so the reference adds the row difference to the input vectors."""
    ours, hf = pegasus["ConditionalGeneration"]
    width = PEGASUS.tiny["d_model"]
    table = sinusoidal_table(PEGASUS.tiny["max_position_embeddings"], width)
    words = _numpy(ours.backbone.token_embedding.embeddings)
    scale = np.float32(np.sqrt(width))
    positions = np.array([[3, 4, 5, 6, 7], [0, 2, 4, 6, 8]], "int32")
    dec_positions = np.array([[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]], "int32")
    shift = lambda p: (table[p] - table[np.arange(p.shape[1])]).astype("float32")  # noqa: E731
    theirs = _hf(
        hf,
        inputs_embeds=words[SRC] * scale + shift(positions),
        attention_mask=SRC_MASK,
        decoder_inputs_embeds=words[TGT] + shift(dec_positions) / scale,
    )
    out = ours(SEQ2SEQ_X, position_ids=positions, decoder_position_ids=dec_positions)
    assert_close(out.logits, theirs.logits)
    # The list form: after decoder_attention_mask, as the Flax seed documents.
    listed = ours([SRC, SRC_MASK, TGT, None, positions, dec_positions])
    assert_close(listed.logits, theirs.logits)
    default = np.broadcast_to(np.arange(5, dtype="int32"), (2, 5))
    assert_close(ours(SEQ2SEQ_X, position_ids=default).logits, _numpy(ours(SEQ2SEQ_X).logits))


def test_pegasus_without_decoder_ids_shifts_input_ids(pegasus):
    """transformers' Flax Pegasus shifts `input_ids` right behind `decoder_start_token_id`;
    its PyTorch PegasusModel refuses the call. We follow the Flax seed."""
    from transformers.models.pegasus.modeling_pegasus import shift_tokens_right

    ours, hf = pegasus["Model"]
    shifted = shift_tokens_right(torch.tensor(SRC), 0, hf.config.decoder_start_token_id)
    theirs = _hf(hf, input_ids=SRC, attention_mask=SRC_MASK, decoder_input_ids=shifted.numpy())
    out = ours({"input_ids": SRC, "attention_mask": SRC_MASK})
    assert_close(out.last_hidden_state, theirs.last_hidden_state)


def test_pegasus_cache_continues_as_one_pass(pegasus):
    ours, hf = pegasus["ConditionalGeneration"]
    full = _hf(hf, **SEQ2SEQ_X)
    # The seq2seq call: decoder ids in chunks, the decoder mask covering everything so far.
    first = ours(dict(SEQ2SEQ_X, decoder_input_ids=TGT[:, :2]), use_cache=True)
    second = ours(
        dict(SEQ2SEQ_X, decoder_input_ids=TGT[:, 2:], decoder_attention_mask=np.ones_like(TGT)),
        past_key_values=first.past_key_values,
    )
    assert_close(np.concatenate([_numpy(first.logits), _numpy(second.logits)], 1), full.logits)
    # Per layer: self keys, self values, cross keys, cross values (Flax / transformers legacy).
    layer = second.past_key_values[0]
    assert [tuple(t.shape)[2] for t in layer] == [
        TGT.shape[1],
        TGT.shape[1],
        SRC.shape[1],
        SRC.shape[1],
    ]
    # `encode` once, then `decode` step by step with `past_key_values` (the Flax seed's API).
    encoded = ours.encode(SRC, SRC_MASK)
    past, logits = None, []
    for start, end in ((0, 3), (3, 4), (4, 5)):
        step = ours.decode(
            TGT[:, start:end],
            encoded,
            encoder_attention_mask=SRC_MASK,
            past_key_values=past,
            use_cache=True,
            output_attentions=True,
        )
        past = step.past_key_values
        logits.append(_numpy(step.logits))
        assert tuple(step.attentions[0].shape)[-1] == end  # the cached keys too
    assert_close(np.concatenate(logits, 1), full.logits)


def test_pegasus_constructor_flags_build_the_graph_outputs(pegasus):
    _, hf = pegasus["ConditionalGeneration"]
    model = keras_models.PegasusForConditionalGeneration.from_preset(
        pegasus["directory"], output_hidden_states=True, output_attentions=True
    )
    theirs = _hf(hf, **SEQ2SEQ_X, output_hidden_states=True, output_attentions=True)
    out = model(SEQ2SEQ_X)
    assert list(out) == [k for k in _hf_names(theirs) if k != "past_key_values"]
    _compare_attentions(out.cross_attentions, theirs.cross_attentions)
    _compare_states(out.encoder_hidden_states, theirs.encoder_hidden_states, SRC_MASK)
    predicted = model.predict(SEQ2SEQ_X, verbose=0)
    assert_close(predicted["decoder_attentions"][1], theirs.decoder_attentions[1])


@routing
def test_pegasus_refuses_what_it_cannot_honour(pegasus):
    causal, _ = pegasus["CausalLM"]
    with pytest.raises(ValueError, match="`cross_attn_head_mask`"):
        causal(TGT, cross_attn_head_mask=np.ones(2))
    ours, _ = pegasus["ConditionalGeneration"]
    embeds = np.ones((2, 5, PEGASUS.tiny["d_model"]), "float32")
    with pytest.raises(ValueError, match="`decoder_input_ids` \\(or `decoder_inputs_embeds`\\)"):
        ours(inputs_embeds=embeds)
    with pytest.raises(ValueError, match="`decoder_head_mask` must have shape"):
        ours(SEQ2SEQ_X, decoder_head_mask=np.ones((3, 2)))
    past = ours(SEQ2SEQ_X, use_cache=True).past_key_values
    with pytest.raises(ValueError, match="`past_key_values` of layer 0 has shape"):
        ours(
            dict(
                SEQ2SEQ_X,
                input_ids=SRC[:1],
                attention_mask=SRC_MASK[:1],
                decoder_input_ids=TGT[:1, :1],
            ),
            past_key_values=past,
        )
    with pytest.raises(ValueError, match="`decoder_attention_mask` has shape"):
        ours(
            dict(SEQ2SEQ_X, decoder_input_ids=TGT[:, :1], decoder_attention_mask=TGT[:, :1]),
            past_key_values=past,
        )
