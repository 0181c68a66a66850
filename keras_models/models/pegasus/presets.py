"""Registered Pegasus checkpoints (google/pegasus-*: pretrained and summarisation fine-tunes).

All share the pegasus-large shape: 16 + 16 pre-LN layers, d_model 1024, 16 heads, ffn 4096,
relu, scaled embeddings, a 96103-token SentencePiece vocabulary (about 568M parameters).
"""

from keras_models.presets.registry import Preset

_PARAMS = 568_000_000

_CHECKPOINTS = (
    (
        "pegasus_large",
        "google/pegasus-large",
        "Pegasus large, pretrained (gap sentences); "
        "the released weights are the mixed & stochastic model.",
    ),
    (
        "pegasus_xsum",
        "google/pegasus-xsum",
        "Pegasus large fine-tuned on XSum (one-sentence BBC summaries).",
    ),
    (
        "pegasus_cnn_dailymail",
        "google/pegasus-cnn_dailymail",
        "Pegasus large fine-tuned on CNN / DailyMail (news highlights).",
    ),
    ("pegasus_newsroom", "google/pegasus-newsroom", "Pegasus large fine-tuned on Newsroom."),
    (
        "pegasus_multi_news",
        "google/pegasus-multi_news",
        "Pegasus large fine-tuned on Multi-News (multi-document news).",
    ),
    (
        "pegasus_gigaword",
        "google/pegasus-gigaword",
        "Pegasus large fine-tuned on Gigaword (headline generation).",
    ),
    ("pegasus_wikihow", "google/pegasus-wikihow", "Pegasus large fine-tuned on WikiHow."),
    (
        "pegasus_reddit_tifu",
        "google/pegasus-reddit_tifu",
        "Pegasus large fine-tuned on Reddit TIFU.",
    ),
    ("pegasus_big_patent", "google/pegasus-big_patent", "Pegasus large fine-tuned on BIGPATENT."),
    ("pegasus_arxiv", "google/pegasus-arxiv", "Pegasus large fine-tuned on arXiv papers."),
    ("pegasus_pubmed", "google/pegasus-pubmed", "Pegasus large fine-tuned on PubMed papers."),
    (
        "pegasus_aeslc",
        "google/pegasus-aeslc",
        "Pegasus large fine-tuned on AESLC (e-mail subject lines).",
    ),
    (
        "pegasus_billsum",
        "google/pegasus-billsum",
        "Pegasus large fine-tuned on BillSum (US bills).",
    ),
)

PRESETS = tuple(
    Preset(name, "pegasus", source, "seq2seq_lm", _PARAMS, description)
    for name, source, description in _CHECKPOINTS
)
