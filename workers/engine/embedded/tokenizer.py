"""Builds the embedded model's word-level tokenizer as a Hugging Face fast tokenizer.

Words, newline runs and single punctuation marks are tokens; anything else maps
to [UNK]. The result is saved with `save_pretrained` and loads with AutoTokenizer.
"""
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from .world import all_words

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]
PUNCTUATION = list(":.,;!?'\"()-#{}[]/\\+=*%$&<>|_") + [str(d) for d in range(10)]
TOKEN_PATTERN = r"\n+|[A-Za-z]+|[^\sA-Za-z]"


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A tokenizer whose vocabulary covers every word of the embedded world."""
    vocab_list = SPECIAL_TOKENS + ["\n", "\n\n"] + PUNCTUATION + all_words()
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys(vocab_list))}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(TOKEN_PATTERN), behavior="removed", invert=True)
    core.post_processor = processors.TemplateProcessing(
        single="[BOS] $A", pair="[BOS] $A $B", special_tokens=[("[BOS]", vocab["[BOS]"])]
    )
    core.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="[BOS]",
        eos_token="[EOS]",
        unk_token="[UNK]",
        pad_token="[PAD]",
        padding_side="left",
        model_max_length=512,
    )
