"""Streamers: `host_callback` delivers every step of a compiled decode loop, in order, and
`TextStreamer` prints what decoding all the ids at once gives."""

import os
import time

import keras
import numpy as np
import pytest
from keras import ops
from tokenizers import Tokenizer as RustTokenizer
from tokenizers import models, pre_tokenizers, trainers

import keras_models
from keras_models.generation.loop import compiled
from keras_models.generation.streamers import (
    BaseStreamer,
    TextStreamer,
    host_callback,
    needs_plain_tf_function,
    open_stream,
    stream_tokens,
    wait_for_callbacks,
)
from keras_models.torch_fast_paths import lean_body

BACKEND = keras.backend.backend()


def _tiny_model():
    """A weakref-able object with variables, as `compiled` and `lean_body` need."""
    model = keras.layers.Dense(2)
    model.build((None, 2))
    model.kernel.assign(np.ones((2, 2), "float32"))  # its sum (4) enters the loop below
    return model


def _compile(model, fn, key):
    """`fn` compiled as the decode loop is: `loop.compiled`, except on TensorFlow, where a
    loop with host callbacks needs the same `tf.function` without XLA."""
    if needs_plain_tf_function():
        import tensorflow as tf

        return tf.function(fn, jit_compile=False)
    return compiled(model, fn, key)


class Recorder(BaseStreamer):
    def __init__(self):
        self.calls = []

    def put(self, value):
        assert isinstance(value, np.ndarray)
        self.calls.append(("put", value.tolist()))

    def end(self):
        self.calls.append(("end",))


# --- host_callback ---------------------------------------------------------------------------
def test_host_callback_runs_every_iteration_in_order():
    model = _tiny_model()
    seen = []

    def record(tag, index, values):
        assert isinstance(values, np.ndarray)
        if tag == 0:
            time.sleep(0.05)  # a slow first call must still come first
        seen.append((int(tag), int(index), values.tolist()))

    def fn(start, values):
        host_callback(record, 0, start, values)

        def cond(index, values):
            return index < 6

        def body(index, values):
            values = values * 3 + index
            host_callback(record, 1, index, values)
            return index + 1, values

        index, values = ops.while_loop(cond, body, (start, values))
        host_callback(record, 2, index, values)
        return index  # nothing returned depends on the callbacks: they must not be pruned

    run = _compile(model, fn, "test")
    start, values = np.array(1, "int32"), np.array([1, 2], "int32")
    expected = [(0, 1, [1, 2])]
    current = np.array([1, 2])
    for index in range(1, 6):
        current = current * 3 + index
        expected.append((1, index, current.tolist()))
    expected.append((2, 6, current.tolist()))
    for _ in range(2):  # the second call replays the cached compiled function
        seen.clear()
        index = run(ops.convert_to_tensor(start), ops.convert_to_tensor(values))
        assert int(ops.convert_to_numpy(index)) == 6
        wait_for_callbacks()
        assert seen == expected


def _streaming_fn(model):
    """A decode loop shaped like `loop.search`: a traced body (`lean_body`) choosing one token
    per row and step (reading a variable), and the streaming call in a wrapper around it."""

    def fn(first, steps, handle):
        stream_tokens(handle, first)

        def cond(index, tokens, steps):
            return index < steps

        def body(index, tokens, steps):
            tokens = (tokens * 3 + index + ops.cast(ops.sum(model.kernel), "int32")) % 50
            return index + 1, tokens, steps

        step = lean_body(model, "stream_test", body)

        def step_and_stream(*loop_vars):
            out = step(*loop_vars)
            stream_tokens(handle, out[1])
            return out

        start = ops.convert_to_tensor(0, dtype="int32")
        return ops.while_loop(cond, step_and_stream, (start, first, steps))[1]

    def expected(first, steps):
        rows, tokens = [first.tolist()], first
        for index in range(steps):
            tokens = (tokens * 3 + index + 4) % 50
            rows.append(tokens.tolist())
        return rows

    return fn, expected


def test_stream_tokens_delivers_each_step_to_the_current_streamer():
    model = _tiny_model()
    fn, expected = _streaming_fn(model)
    run = _compile(model, fn, "stream")
    first = np.array([3, 7], "int32")
    prompt = np.array([[1, 2], [4, 5]], "int32")
    for steps in (4, 2):  # the same compiled loop, another streamer, another length
        streamer = Recorder()
        with open_stream(streamer, prompt) as handle:
            out = run(
                ops.convert_to_tensor(first),
                ops.convert_to_tensor(steps, dtype="int32"),
                ops.convert_to_tensor(handle),
            )
            out = ops.convert_to_numpy(out)
        puts = [("put", prompt.tolist())] + [("put", row) for row in expected(first, steps)]
        assert streamer.calls == puts + [("end",)]
        assert out.tolist() == expected(first, steps)[-1]


def test_streamer_error_is_raised_after_the_loop():
    class Failing(Recorder):
        def put(self, value):
            super().put(value)
            if len(self.calls) == 3:
                raise KeyError("streamer broke")

    model = _tiny_model()
    fn, _ = _streaming_fn(model)
    run = _compile(model, fn, "stream")
    streamer = Failing()
    with pytest.raises(KeyError, match="streamer broke"):
        with open_stream(streamer) as handle:
            run(
                ops.convert_to_tensor(np.array([1], "int32")),
                ops.convert_to_tensor(5, dtype="int32"),
                ops.convert_to_tensor(handle),
            )
    assert len(streamer.calls) == 3 and ("end",) not in streamer.calls


def test_host_callback_inside_a_traced_torch_body():
    """On torch a traced body would call the function only while tracing: refused. On the
    other backends `lean_body` leaves the body as it is and the callback runs every step."""
    model = _tiny_model()
    seen = []

    def fn(start):
        def body(index):
            host_callback(lambda i: seen.append(int(i)), index)
            return (index + 1,)

        return ops.while_loop(lambda index: index < 3, lean_body(model, "bad", body), (start,))

    run = _compile(model, fn, "traced")
    start = ops.convert_to_tensor(0, dtype="int32")
    if BACKEND == "torch":
        with pytest.raises(RuntimeError, match="torch.jit.trace"):
            run(start)
    else:
        run(start)
        wait_for_callbacks()
        assert seen == [0, 1, 2]


def test_only_tensorflow_needs_a_plain_tf_function():
    """XLA has no kernel for `tf.py_function`: the streaming loop cannot be `jit_compile`d."""
    assert needs_plain_tf_function() == (BACKEND == "tensorflow")
    if BACKEND != "tensorflow":
        return
    import tensorflow as tf

    def fn(x):
        host_callback(lambda v: None, x)
        return x + 1

    with pytest.raises(Exception, match="EagerPyFunc"):
        tf.function(fn, jit_compile=True)(tf.constant(1))


# --- TextStreamer ----------------------------------------------------------------------------
CORPUS = [
    "The cup is on the table, and the door is open.",
    "It was a long day in the small town.",
    "We walked along the river and talked about the past.",
]
TEXT = "The cup is red.\nIt was a long  day, café ☕ 中文字 in the town!\n\nWe walked"


@pytest.fixture(scope="module")
def opt_tokenizer(tmp_path_factory):
    from keras_models import OPTTokenizer

    directory = str(tmp_path_factory.mktemp("stream_tokenizer"))
    backend = RustTokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(CORPUS * 3, trainer)
    backend.model.save(directory)
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
        f.write(
            '{"tokenizer_class": "GPT2Tokenizer", "add_bos_token": true, "bos_token": "</s>", '
            '"eos_token": "</s>", "unk_token": "</s>", "pad_token": "<pad>"}'
        )
    return OPTTokenizer.from_preset(directory)


def _ids(tokenizer, text):
    return [int(i) for i in tokenizer(text)["input_ids"][0]]


def _stream(streamer, prompt, generated):
    streamer.put(np.array([prompt], "int32"))
    for token in generated:
        streamer.put(np.array([token], "int32"))
    streamer.end()


def test_text_streamer_prints_the_decoded_text(opt_tokenizer, capsys):
    tok = opt_tokenizer
    ids = _ids(tok, TEXT)
    assert len(ids) > 30
    _stream(TextStreamer(tok), ids[:4], ids[4:])
    assert capsys.readouterr().out == tok.decode(ids) + "\n"


def test_text_streamer_prints_as_it_goes(opt_tokenizer):
    tok = opt_tokenizer
    ids = _ids(tok, TEXT) + [tok.eos_token_id]

    class Chunks(TextStreamer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.chunks = []

        def on_finalized_text(self, text, stream_end=False):
            self.chunks.append((text, stream_end))

    streamer = Chunks(tok, skip_special_tokens=True)
    streamer.put(np.array([ids[:3]]))
    for count in range(4, len(ids) + 1):
        streamer.put(np.array([ids[count - 1]]))
        # What is printed never has to be taken back.
        printed = "".join(text for text, _ in streamer.chunks)
        assert tok.decode(ids[:count], skip_special_tokens=True).startswith(printed)
    before_end = len(streamer.chunks)
    streamer.end()
    assert before_end > 5 and all(text for text, _ in streamer.chunks[:before_end])
    assert [end for _, end in streamer.chunks] == [False] * before_end + [True]
    # The new line and the CJK characters are printed as soon as they are decoded.
    assert any(text.endswith("\n") for text, _ in streamer.chunks[:before_end])
    assert any(text.endswith("字") for text, _ in streamer.chunks[:before_end])
    full = "".join(text for text, _ in streamer.chunks)
    assert full == tok.decode(ids, skip_special_tokens=True)
    assert "</s>" not in full


def test_text_streamer_skip_prompt(opt_tokenizer, capsys):
    tok = opt_tokenizer
    ids = _ids(tok, TEXT)
    streamer = TextStreamer(tok, skip_prompt=True)
    for _ in range(2):  # `end` gets it ready for the next prompt, skipped again
        _stream(streamer, ids[:6], ids[6:])
        assert capsys.readouterr().out == tok.decode(ids[6:]) + "\n"
    _stream(TextStreamer(tok, skip_prompt=True), ids, [])
    assert capsys.readouterr().out == "\n"


def test_text_streamer_refuses_batches(opt_tokenizer):
    streamer = TextStreamer(opt_tokenizer)
    with pytest.raises(ValueError, match="batch of size 1"):
        streamer.put(np.array([[5, 6], [7, 8]]))
    streamer = TextStreamer(opt_tokenizer, skip_prompt=True)
    streamer.put(np.array([[5, 6]]))
    with pytest.raises(ValueError, match=r"batch of size 1.*\(2,\)"):
        streamer.put(np.array([9, 10]))


def test_text_streamer_takes_a_preprocessor(opt_tokenizer, capsys):
    from keras_models import CausalLMPreprocessor

    streamer = TextStreamer(CausalLMPreprocessor(opt_tokenizer, max_length=16))
    assert streamer.tokenizer is opt_tokenizer
    with pytest.raises(ValueError, match="decode"):
        TextStreamer(object())


def test_text_streamer_with_decoder_clean_up(capsys):
    """WordPiece decoding joins `##` pieces and drops the space before punctuation: the
    streamed text still equals the text decoded at once."""
    from keras_models import MegatronBertTokenizer

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cup", ".", "play", "##ing"]
    words += [",", "'", "s", "?", "it"]
    tok = MegatronBertTokenizer({w: i for i, w in enumerate(words)})
    ids = _ids(tok, "the cup, it's playing. it ' s the cup ? the cup.")
    _stream(TextStreamer(tok, skip_special_tokens=True), ids[:2], ids[2:])
    expected = tok.decode(ids, skip_special_tokens=True)
    assert "," in expected and " ," not in expected and "playing" in expected
    assert capsys.readouterr().out == expected + "\n"


def test_text_streamer_in_a_compiled_loop(opt_tokenizer, capsys):
    """End to end: a compiled loop streams the ids of a text, one per step, to a
    `TextStreamer`."""
    tok = opt_tokenizer
    ids = np.array(_ids(tok, TEXT), "int32")
    model = _tiny_model()

    def fn(table, handle):
        def body(index, table):
            # `lean_body` traces need a variable read: the kernel's sum is 4.
            return index + ops.cast(ops.sum(model.kernel), "int32") // 4, table

        step = lean_body(model, "table", body)

        def step_and_stream(index, table):
            index, table = step(index, table)
            stream_tokens(handle, ops.take(table, index - 1, axis=0)[None])
            return index, table

        start = ops.convert_to_tensor(3, dtype="int32")
        return ops.while_loop(lambda i, t: i < t.shape[0], step_and_stream, (start, table))[0]

    run = _compile(model, fn, "text")
    with open_stream(TextStreamer(tok, skip_prompt=True), ids[None, :3]) as handle:
        run(ops.convert_to_tensor(ids), ops.convert_to_tensor(handle))
    assert capsys.readouterr().out == tok.decode(ids[3:]) + "\n"


def test_generate_streams_text_as_it_is_generated(opt_tokenizer, capsys):
    tok = opt_tokenizer
    backbone = keras_models.OPTBackbone(
        vocab_size=len(tok),
        hidden_size=16,
        num_hidden_layers=1,
        ffn_dim=32,
        num_attention_heads=2,
        max_position_embeddings=64,
        pad_token_id=tok.pad_token_id,
    )
    model = keras_models.OPTForCausalLM(backbone)
    model.preprocessor = keras_models.CausalLMPreprocessor(tok, max_length=32)
    capsys.readouterr()
    # `streamer=True` with text prompts: the generated text is printed as it comes.
    text = model.generate("The cup", max_new_tokens=6, eos_token_id=[], streamer=True)
    assert capsys.readouterr().out == text + "\n"
    streamer = keras_models.TextStreamer(tok, skip_prompt=True)
    prompt = np.array([_ids(tok, "The cup")], "int32")
    ids = model.generate(prompt, max_new_tokens=6, eos_token_id=[], streamer=streamer)
    assert capsys.readouterr().out == tok.decode(ids[0, prompt.shape[1] :]) + "\n"
    # Text in, text out: a dict of scores is refused, however it is asked for.
    as_dict = keras_models.GenerationConfig(return_dict_in_generate=True)
    with pytest.raises(ValueError, match="return_dict_in_generate"):
        model.generate("The cup", max_new_tokens=2, generation_config=as_dict)
