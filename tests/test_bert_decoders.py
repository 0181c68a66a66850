"""The BERT-style families as decoders (issue 21, items 7 and 8): cross-attention layers loaded
from transformers checkpoints, `use_cache` / `past_key_values` in calls, and `generate`, each
compared with transformers 5 (eager attention)."""

import keras
import numpy as np
import pytest
import transformers

import keras_models
from keras_models.presets.families import get_family
from keras_models.presets.weights import read_hf_weights
from tests.families import FAMILIES
from tests.helpers import assert_close, np_out, random_ids, save_hf

BERT_FAMILIES = ("roberta", "megatron_bert", "roc_bert", "roformer")
MODEL_TYPES = {
    "roberta": "roberta",
    "megatron_bert": "megatron-bert",
    "roc_bert": "roc_bert",
    "roformer": "roformer",
}
#: Backend-independent checks (what is refused, list order) run once, on torch.
torch_only = pytest.mark.skipif(
    keras.backend.backend() != "torch", reason="backend-independent check, run on torch"
)
HIDDEN = 16
SEQ = 5
# transformers' MegatronBERT cross-attention reshapes the encoder keys with the decoder's
# length (`view(*hidden_states.shape[:-1], -1, head_size)`), so it only runs when both lengths
# are equal; the other families get a source of another length.
SOURCE = {"megatron_bert": SEQ}


def decoder_config(family, cross=True, **overrides):
    spec = FAMILIES[family]
    return spec.tiny_config(
        is_decoder=True,
        add_cross_attention=cross,
        num_hidden_layers=2,
        attn_implementation="eager",
        **overrides,
    )


def hf_causal_lm(family, directory, cross=True, seed=0):
    """A seeded transformers `*ForCausalLM` saved to `directory`, its attention weights scaled
    up: peaked attention that weighs in the residual stream makes positions (and so a wrong
    cache offset) change the greedy tokens of a tiny model, whose next token otherwise
    follows the current one alone."""
    import torch

    spec = FAMILIES[family]
    model_cls = getattr(transformers, spec.hf_task("CausalLM"))
    model = save_hf(model_cls, decoder_config(family, cross), directory, seed=seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(("query.weight", "key.weight")):
                param.mul_(8.0)
            elif name.endswith(("value.weight", "attention.output.dense.weight")):
                param.mul_(3.0)
    model.save_pretrained(directory)
    return model


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """`{(family, cross): (directory, transformers model)}`, built on first use."""
    built = {}

    def get(family, cross=True):
        if (family, cross) not in built:
            directory = tmp_path_factory.mktemp(f"{family}_{int(cross)}")
            built[family, cross] = (str(directory), hf_causal_lm(family, directory, cross))
        return built[family, cross]

    return get


def batch(family, seed=0):
    spec = FAMILIES[family]
    rng = np.random.default_rng(seed)
    src = SOURCE.get(family, 7)
    ids = random_ids(rng, (2, SEQ), spec.first_id, spec.tiny["vocab_size"], avoid=(spec.pad,))
    states = rng.normal(size=(2, src, HIDDEN)).astype("float32")
    source_mask = np.ones((2, src), "int32")
    source_mask[1, -2:] = 0
    return {
        "input_ids": ids,
        "encoder_hidden_states": states,
        "encoder_attention_mask": source_mask,
    }


def torch_batch(x):
    import torch

    return {
        k: torch.tensor(v) if k == "encoder_hidden_states" else torch.tensor(v).long()
        for k, v in x.items()
    }


def hf_call(model, x, **kwargs):
    import torch

    with torch.no_grad():
        return model(**torch_batch(x), **kwargs)


# --- item 8: cross-attention decoders ----------------------------------------------------------
@pytest.mark.parametrize("family", BERT_FAMILIES)
def test_cross_attention_checkpoint_loads_and_matches(checkpoints, family):
    directory, hf = checkpoints(family)
    model = getattr(keras_models, FAMILIES[family].task("CausalLM")).from_preset(directory)
    assert model.backbone.add_cross_attention
    x = batch(family)
    ours = model(x, output_attentions=True, output_hidden_states=True)
    theirs = hf_call(hf, x, output_attentions=True, output_hidden_states=True)
    assert_close(ours.logits, theirs.logits)
    assert len(ours.cross_attentions) == len(theirs.cross_attentions) == 2
    for a, b in zip(ours.cross_attentions, theirs.cross_attentions):
        assert_close(a, b)
    for a, b in zip(ours.attentions, theirs.attentions):
        assert_close(a, b)
    for a, b in zip(ours.hidden_states, theirs.hidden_states):
        assert_close(a, b)
    # The graph (no call options) computes the same; and without encoder states the
    # cross-attention is skipped, as in transformers.
    assert_close(model(x)["logits"], theirs.logits)
    plain = {"input_ids": x["input_ids"]}
    assert_close(model(plain)["logits"], hf_call(hf, plain).logits)


@pytest.mark.parametrize("family", BERT_FAMILIES)
def test_cross_attention_weights_export(checkpoints, family):
    directory, _ = checkpoints(family)
    checkpoint = read_hf_weights(directory)
    model = getattr(keras_models, FAMILIES[family].task("CausalLM")).from_preset(directory)
    cross = [key for key in checkpoint if "crossattention" in key]
    assert cross
    exported = {}
    for keys, value, _ in get_family(MODEL_TYPES[family]).converter.export(model):
        exported.update({key: value for key in keys if key in checkpoint})
    for key in cross:
        np.testing.assert_array_equal(exported[key], checkpoint[key], err_msg=key)


@torch_only
def test_cross_attention_inputs_come_last_in_the_list_form(checkpoints):
    directory, hf = checkpoints("roberta")
    model = keras_models.RobertaForCausalLM.from_preset(directory)
    assert model.positional_names == (
        "input_ids",
        "attention_mask",
        "token_type_ids",
        "position_ids",
        "head_mask",
        "inputs_embeds",
        "encoder_hidden_states",
        "encoder_attention_mask",
        "past_key_values",  # transformers' order: the cache after the encoder inputs
    )
    x = batch("roberta")
    listed = [x["input_ids"], None, None, None, None, None, x["encoder_hidden_states"]]
    listed.append(x["encoder_attention_mask"])
    assert_close(model(listed)["logits"], hf_call(hf, x).logits)


@torch_only
def test_what_a_model_cannot_honour_is_refused(checkpoints):
    directory, _ = checkpoints("roberta", cross=False)
    model = keras_models.RobertaForCausalLM.from_preset(directory)
    x = batch("roberta")
    with pytest.raises(ValueError, match="encoder_hidden_states.*add_cross_attention=True"):
        model(x)
    with pytest.raises(ValueError, match="add_cross_attention=True"):
        keras_models.RobertaBackbone(**FAMILIES["roberta"].tiny, add_cross_attention=True)
    encoder = keras_models.RobertaBackbone(**FAMILIES["roberta"].tiny)
    with pytest.raises(ValueError, match="use_cache.*is_decoder=False"):
        encoder(x["input_ids"], use_cache=True)
    with pytest.raises(ValueError, match="past_key_values"):
        model(x["input_ids"], past_key_values=((np.zeros((2, 2, 3, 8)),),))
    # The graph that `fit` and `predict` run needs the encoder states it was built with.
    cross = keras_models.RobertaForCausalLM.from_preset(checkpoints("roberta")[0])
    with pytest.raises(ValueError, match="encoder_hidden_states"):
        cross.predict({"input_ids": x["input_ids"]}, verbose=0)


def test_cross_attention_decoder_in_predict(checkpoints):
    directory, hf = checkpoints("roformer")
    model = keras_models.RoFormerForCausalLM.from_preset(directory)
    x = batch("roformer")
    assert_close(model.predict(x, verbose=0)["logits"], hf_call(hf, x).logits)


# --- item 7: the cache in calls ---------------------------------------------------------------
def split_call(model, x, first, **kwargs):
    """Runs `x` in two calls, the second continuing the first's `past_key_values`."""
    head = {k: v[:, :first] if k in ("input_ids",) else v for k, v in x.items()}
    tail = {k: v[:, first:] if k in ("input_ids",) else v for k, v in x.items()}
    out = model(head, use_cache=True, **kwargs)
    return out, model(tail, past_key_values=out.past_key_values, use_cache=True, **kwargs)


@pytest.mark.parametrize("family", BERT_FAMILIES)
@pytest.mark.parametrize("cross", [False, True], ids=["self", "cross"])
def test_cache_continues_the_full_call(checkpoints, family, cross):
    directory, hf = checkpoints(family, cross)
    model = getattr(keras_models, FAMILIES[family].task("CausalLM")).from_preset(directory)
    x = batch(family)
    if not cross:
        x = {"input_ids": x["input_ids"]}
    full = model(x)["logits"]
    first, second = split_call(model, x, 3)
    assert_close(ops_concat(first.logits, second.logits), full)
    layers = second.past_key_values
    assert len(layers) == 2 and tuple(layers[0][0].shape) == (2, 2, SEQ, HIDDEN // 2)
    # As transformers: labels turn the cache off (the loss is that of the plain call).
    with_labels = model(x, use_cache=True, labels=x["input_ids"])
    assert "past_key_values" not in with_labels
    assert_close(with_labels.loss, model(x, labels=x["input_ids"]).loss)
    if family == "megatron_bert" and cross:
        return  # transformers' MegatronBERT cross-attention needs equal lengths (see SOURCE)
    # transformers' own cached continuation gives the same logits.
    hf_first = hf_call(hf, {**x, "input_ids": x["input_ids"][:, :3]}, use_cache=True)
    hf_second = hf_call(hf, {**x, "input_ids": x["input_ids"][:, 3:]}, cache=hf_first.cache)
    assert_close(second.logits, hf_second.logits)


def ops_concat(a, b):
    return np.concatenate([keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b)], axis=1)


@pytest.mark.parametrize("family", ["roberta", "roformer"])
def test_cache_with_padding_mask_and_attentions(checkpoints, family):
    # A left-padded first chunk, then one token with the mask of every position so far.
    directory, hf = checkpoints(family, False)
    model = getattr(keras_models, FAMILIES[family].task("CausalLM")).from_preset(directory)
    ids = batch(family)["input_ids"]
    mask = np.ones_like(ids)
    mask[1, :2] = 0
    first = model({"input_ids": ids[:, :4], "attention_mask": mask[:, :4]}, use_cache=True)
    second = model(
        {"input_ids": ids[:, 4:], "attention_mask": mask},
        past_key_values=first.past_key_values,
        output_attentions=True,
    )
    hf_first = hf_call(hf, {"input_ids": ids[:, :4], "attention_mask": mask[:, :4]}, use_cache=True)
    hf_second = hf_call(
        hf,
        {"input_ids": ids[:, 4:], "attention_mask": mask},
        cache=hf_first.cache,
        output_attentions=True,
    )
    assert_close(second.logits, hf_second.logits)
    for a, b in zip(second.attentions, hf_second.attentions):
        assert_close(a, b)


# --- item 7: generate -------------------------------------------------------------------------
@pytest.mark.parametrize("family", BERT_FAMILIES)
def test_greedy_generate_matches_transformers(checkpoints, family):
    import torch

    # transformers' `generate` gives these models position ids `cumsum(mask) - 1` (padding 0)
    # whatever their forward's own default (RoBERTa's counts from `pad + 1`), and RoFormer's
    # rotary angles the cache slot: left padding tells the rules apart.
    directory, hf = checkpoints(family, False)
    model = getattr(keras_models, FAMILIES[family].task("CausalLM")).from_preset(directory)
    pad = FAMILIES[family].pad
    ids = batch(family)["input_ids"][:, :4]
    mask = np.ones_like(ids)
    ids[1, :2], mask[1, :2] = pad, 0
    with torch.no_grad():
        theirs = hf.generate(
            torch.tensor(ids).long(),
            attention_mask=torch.tensor(mask).long(),
            max_new_tokens=6,
            do_sample=False,
            eos_token_id=None,
            pad_token_id=pad,
        )
    ours = model.generate(
        {"input_ids": ids, "attention_mask": mask}, max_new_tokens=6, eos_token_id=[]
    )
    np.testing.assert_array_equal(ours, np_out(theirs))


def test_greedy_generate_with_cross_attention_matches_transformers(checkpoints):
    # transformers' `generate` makes a self-attention-only cache for these decoders, which
    # their cross-attention cannot use; it is given the two-part cache their forward makes.
    import torch
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    directory, hf = checkpoints("roberta")
    model = keras_models.RobertaForCausalLM.from_preset(directory)
    x = batch("roberta")
    x["input_ids"] = x["input_ids"][:, :3]
    with torch.no_grad():
        theirs = hf.generate(
            **torch_batch(x),
            cache=EncoderDecoderCache(DynamicCache(), DynamicCache()),
            max_new_tokens=5,
            do_sample=False,
            eos_token_id=None,
            pad_token_id=1,
        )
    ours = model.generate(x, max_new_tokens=5, eos_token_id=[])
    np.testing.assert_array_equal(ours, np_out(theirs))


def test_head_mask_scales_both_attentions(checkpoints):
    # transformers 4.x's meaning: a layer's head mask multiplies the probabilities of its
    # self-attention and of its cross-attention, which equals scaling that head's slice of
    # both value projections.
    directory, _ = checkpoints("roberta")
    model = keras_models.RobertaForCausalLM.from_preset(directory)
    x = batch("roberta")
    layer, head, factor = 1, 0, 0.3
    head_mask = np.ones((2, 2), "float32")
    head_mask[layer, head] = factor
    masked = keras.ops.convert_to_numpy(model(x, head_mask=head_mask).logits)
    block = model.backbone.encoder_layers[layer]
    width = HIDDEN // 2
    for attention in (block.attention, block.cross_attention):
        dense = attention.value_dense
        kernel, bias = (keras.ops.convert_to_numpy(v).copy() for v in (dense.kernel, dense.bias))
        kernel[:, head * width : (head + 1) * width] *= factor
        bias[head * width : (head + 1) * width] *= factor
        dense.kernel.assign(kernel)
        dense.bias.assign(bias)
    assert_close(masked, model(x)["logits"])


def test_cross_attention_decoder_saves_and_loads(checkpoints, tmp_path):
    directory, hf = checkpoints("megatron_bert")
    model = keras_models.MegatronBertForCausalLM.from_preset(directory)
    path = str(tmp_path / "decoder.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert restored.backbone.add_cross_attention
    x = batch("megatron_bert")
    assert_close(restored(x)["logits"], hf_call(hf, x).logits)


@pytest.mark.parametrize("family", ["roberta", "megatron_bert"])
def test_cache_with_inputs_embeds(checkpoints, family):
    # transformers numbers RoBERTa's given vectors from the start even after a cache, and
    # MegatronBERT's after it.
    import torch

    directory, hf = checkpoints(family, False)
    model = getattr(keras_models, FAMILIES[family].task("CausalLM")).from_preset(directory)
    ids = batch(family)["input_ids"]
    table = keras.ops.convert_to_numpy(model.backbone.token_embedding.embeddings)
    first = model(ids[:, :3], use_cache=True)
    second = model({"inputs_embeds": table[ids[:, 3:]]}, past_key_values=first.past_key_values)
    hf_first = hf_call(hf, {"input_ids": ids[:, :3]}, use_cache=True)
    with torch.no_grad():
        hf_second = hf(inputs_embeds=torch.tensor(table[ids[:, 3:]]), cache=hf_first.cache)
    assert_close(second.logits, hf_second.logits)


def test_cross_attention_decoder_trains(checkpoints):
    # `fit` runs the functional graph, encoder states included, with the default causal loss.
    directory, _ = checkpoints("roc_bert")
    model = keras_models.RoCBertForCausalLM.from_preset(directory)
    x = batch("roc_bert")
    model.compile(optimizer=keras.optimizers.SGD(0.05))
    history = model.fit({**x, "labels": x["input_ids"]}, epochs=2, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert history.history["loss"][1] < history.history["loss"][0]
