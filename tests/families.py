"""One `FamilySpec` per family: what the tests that cover every family (hub loading, the convert
command, the reliability tests) and the shared parity runners of tests/harness.py need to know
about it."""

import dataclasses

import numpy as np

import keras_models

IDS = np.array([[0, 5, 6, 7, 2], [0, 8, 9, 2, 1]], dtype="int32")

#: The sizes of every family's parity checkpoints (tests/test_*_parity.py).
PARITY_SIZES = dict(
    vocab_size=99,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
    max_position_embeddings=64,
    type_vocab_size=2,
    num_labels=3,
)
ENCODER_HEADS = (
    ("QuestionAnswering", {"num_labels": 2}),
    ("TokenClassification", {}),
    ("SequenceClassification", {}),
    ("MaskedLM", {}),
    ("CausalLM", {"is_decoder": True}),
)


@dataclasses.dataclass(frozen=True)
class FamilySpec:
    """What the shared tests know about a family.

    Attributes:
        name: the family name of the preset registry (`"roberta"`).
        preset: a registered preset name whose hub repo the offline hub tests fake.
        repo: that preset's Hugging Face repo.
        prefix: the class prefix (`"Roberta"`): `{prefix}Backbone`, `{prefix}For{Head}`.
        hf_prefix: transformers' class prefix (`"Roberta"`): `{hf_prefix}Model`,
            `{hf_prefix}Config`, `{hf_prefix}For{Head}`.
        tiny: the smallest config (transformers field names) for the tests of every family.
        parity: the parity checkpoints' config (transformers field names).
        heads: the parity-tested task heads, (head, transformers config overrides); a head is
            the class name without the prefix (`"ForMaskedLM"` is `"MaskedLM"`).
        pad: the pad token id.
        first_id: the lowest id of the random parity batches (ids below it are special).
        bos: the id the parity batches start with, or None.
    """

    name: str
    preset: str
    repo: str
    prefix: str
    hf_prefix: str
    tiny: dict
    parity: dict = dataclasses.field(default_factory=dict)
    heads: tuple = ENCODER_HEADS
    pad: int = 0
    first_id: int = 1
    bos: int | None = None

    @property
    def backbone(self):
        """Our backbone class name."""
        return f"{self.prefix}Backbone"

    @property
    def backbone_cls(self):
        return getattr(keras_models, self.backbone)

    @property
    def hf_model(self):
        """transformers' base model class name."""
        return f"{self.hf_prefix}Model"

    @property
    def hf_config(self):
        """transformers' config class name."""
        return f"{self.hf_prefix}Config"

    @property
    def vocab(self):
        return self.parity["vocab_size"]

    def task(self, head):
        """Our task class name of `head`."""
        return f"{self.prefix}For{head}"

    def hf_task(self, head):
        """transformers' class name of `head`; `"Model"` is the base model."""
        return self.hf_model if head == "Model" else f"{self.hf_prefix}For{head}"

    def config(self, **overrides):
        """The parity config as a transformers config object."""
        import transformers

        return getattr(transformers, self.hf_config)(**{**self.parity, **overrides})

    def tiny_config(self, **overrides):
        """The tiny config as a transformers config object."""
        import transformers

        return getattr(transformers, self.hf_config)(**{**self.tiny, **overrides})

    def inputs(self, ids=IDS):
        """Inputs for the backbone (Pegasus also needs decoder ids)."""
        if self.name == "pegasus":
            return {"input_ids": ids, "decoder_input_ids": ids}
        return {"input_ids": ids}


BERT_TINY = dict(
    vocab_size=60,
    hidden_size=16,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=20,
    max_position_embeddings=20,
)

SPECS = (
    FamilySpec(
        name="megatron_bert",
        preset="megatron_bert_cased_345m",
        repo="nvidia/megatron-bert-cased-345m",
        prefix="MegatronBert",
        hf_prefix="MegatronBert",
        tiny=BERT_TINY,
        parity=dict(PARITY_SIZES, pad_token_id=0),
        heads=ENCODER_HEADS + (("NextSentencePrediction", {}),),
    ),
    FamilySpec(
        name="opt",
        preset="opt_125m",
        repo="facebook/opt-125m",
        prefix="OPT",
        hf_prefix="OPT",
        tiny=dict(
            vocab_size=60,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            ffn_dim=20,
            max_position_embeddings=20,
            word_embed_proj_dim=8,
        ),
        parity=dict(
            vocab_size=99,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            ffn_dim=37,
            max_position_embeddings=64,
            pad_token_id=1,
            bos_token_id=2,
            eos_token_id=2,
            num_labels=3,
        ),
        heads=(("CausalLM", {}), ("SequenceClassification", {}), ("QuestionAnswering", {})),
        pad=1,
        first_id=3,
        bos=2,
    ),
    FamilySpec(
        name="pegasus",
        preset="pegasus_xsum",
        repo="google/pegasus-xsum",
        prefix="Pegasus",
        hf_prefix="Pegasus",
        tiny=dict(
            vocab_size=60,
            d_model=16,
            encoder_layers=1,
            decoder_layers=1,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=20,
            decoder_ffn_dim=20,
            max_position_embeddings=20,
            scale_embedding=True,
            activation_function="relu",
        ),
        # scale_embedding and relu as the released google/pegasus-* checkpoints.
        parity=dict(
            vocab_size=99,
            d_model=32,
            encoder_layers=2,
            decoder_layers=2,
            encoder_attention_heads=4,
            decoder_attention_heads=4,
            encoder_ffn_dim=37,
            decoder_ffn_dim=37,
            max_position_embeddings=64,
            scale_embedding=True,
            activation_function="relu",
        ),
        heads=(("ConditionalGeneration", {}), ("CausalLM", {})),
        first_id=2,
    ),
    FamilySpec(
        name="roc_bert",
        preset="roc_bert_base_zh",
        repo="weiweishi/roc-bert-base-zh",
        prefix="RoCBert",
        hf_prefix="RoCBert",
        tiny=dict(
            BERT_TINY,
            shape_vocab_size=23,
            shape_embed_dim=12,
            pronunciation_vocab_size=17,
            pronunciation_embed_dim=10,
        ),
        parity=dict(
            PARITY_SIZES,
            layer_norm_eps=1e-12,
            pad_token_id=0,
            shape_vocab_size=23,
            pronunciation_vocab_size=17,
        ),
    ),
    FamilySpec(
        name="roberta",
        preset="roberta_base",
        repo="FacebookAI/roberta-base",
        prefix="Roberta",
        hf_prefix="Roberta",
        tiny=BERT_TINY,
        parity=dict(PARITY_SIZES, layer_norm_eps=1e-5, pad_token_id=1),
        pad=1,
        first_id=3,
        bos=0,
    ),
    FamilySpec(
        name="roformer",
        preset="roformer_chinese_base",
        repo="junnyu/roformer_chinese_base",
        prefix="RoFormer",
        hf_prefix="RoFormer",
        tiny=dict(BERT_TINY, embedding_size=12, rotary_value=True),
        parity=dict(PARITY_SIZES, layer_norm_eps=1e-12, pad_token_id=0),
    ),
)
FAMILIES = {spec.name: spec for spec in SPECS}


def make_checkpoint(family, directory):
    """Saves the family's tiny transformers base model to `directory`."""
    import transformers

    from tests.helpers import save_hf

    spec = FAMILIES[family]
    return save_hf(getattr(transformers, spec.hf_model), spec.tiny_config(), directory)


def family_inputs(family):
    """Inputs for the family's backbone (Pegasus also needs decoder ids)."""
    return FAMILIES[family].inputs()
