"""BiLSTM text encoder (DAFSN's text side; the recipe is DAMSM's text encoder, AttnGAN, Xu et
al. CVPR 2018): word embeddings (dropout) → 1-layer bidirectional LSTM over packed sequences.

Outputs per text the *word features* (the two directions' hidden states at every position
concatenated, B × T × 2h) and the *sentence feature*: with ``pooling="last"`` (DAMSM's) both
directions' last hidden states concatenated, B × 2h; with ``"mean"`` / ``"max"`` the mean / the
element-wise max of the text's word features (InferSent's max pooling, Conneau et al. EMNLP 2017). Token id 0 is ``<pad>`` (see :class:`crossmedia.data.text.Vocabulary`);
``<unk>`` (id 1) is a real position. A text of length 0 is run as one ``<pad>`` token and gets a
mask of all False.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

__all__ = ["BiLSTMEncoder"]


class BiLSTMEncoder(nn.Module):
    POOLINGS = ("last", "mean", "max")

    def __init__(self, vocab_size: int, embed_dim: int = 300, hidden: int = 128, dropout: float = 0.5,
                 pooling: str = "last"):
        super().__init__()
        if pooling not in self.POOLINGS:
            raise ValueError(f"pooling: expected one of {', '.join(self.POOLINGS)}, got {pooling!r}")
        self.pooling = pooling
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.drop = nn.Dropout(dropout)
        self.rnn = nn.LSTM(embed_dim, hidden, num_layers=1, batch_first=True, bidirectional=True)
        self.hidden = hidden
        self.out_dim = 2 * hidden
        self._fixed_hook = None  # gradient mask of load_vectors(fixed_rows=...)
        nn.init.uniform_(self.embed.weight, -0.1, 0.1)  # DAMSM's init
        with torch.no_grad():
            self.embed.weight[0].zero_()

    def load_vectors(self, vectors: np.ndarray | torch.Tensor, fixed_rows: np.ndarray | torch.Tensor | None = None) -> None:
        """Initialise the embedding table from pretrained word vectors (V × embed_dim).

        ``fixed_rows`` (V bool): rows that training leaves as they are (their gradient is zeroed,
        so an optimizer without weight decay never moves them), e.g. the words the vectors file
        has, while the words it lacks are learnt. A later call replaces the earlier mask."""
        v = torch.as_tensor(np.asarray(vectors, dtype=np.float32))
        if tuple(v.shape) != tuple(self.embed.weight.shape):
            raise ValueError(f"word vectors have shape {tuple(v.shape)}, expected {tuple(self.embed.weight.shape)}")
        with torch.no_grad():
            self.embed.weight.copy_(v.to(self.embed.weight.device))
            self.embed.weight[0].zero_()
        if self._fixed_hook is not None:
            self._fixed_hook.remove()
            self._fixed_hook = None
        if fixed_rows is not None:
            fixed = torch.as_tensor(np.asarray(fixed_rows, dtype=bool))
            if tuple(fixed.shape) != (v.shape[0],):
                raise ValueError(f"fixed_rows has shape {tuple(fixed.shape)}, expected ({v.shape[0]},)")
            keep = (~fixed).to(self.embed.weight.dtype).unsqueeze(1)
            self._fixed_hook = self.embed.weight.register_hook(lambda g: g * keep.to(g.device, g.dtype))

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor):
        """tokens (B, T) long, lengths (B,) → (words (B, T', 2h), sentence (B, 2h), mask (B, T') bool)
        with T' = the batch's longest text (at least 1)."""
        lengths = torch.as_tensor(lengths).cpu().long().clamp(max=tokens.shape[1])
        t = max(int(lengths.max()) if lengths.numel() else 0, 1)
        tokens = tokens[:, :t]
        x = self.drop(self.embed(tokens))
        packed = pack_padded_sequence(x, lengths.clamp(min=1), batch_first=True, enforce_sorted=False)
        out, (h, _) = self.rnn(packed)
        words, _ = pad_packed_sequence(out, batch_first=True, total_length=t)
        mask = torch.arange(t, device=tokens.device).view(1, -1) < lengths.to(tokens.device).view(-1, 1)
        if self.pooling == "last":
            sentence = torch.cat([h[0], h[1]], dim=1)  # forward's last state, backward's (first-token) state
        elif self.pooling == "mean":
            m = mask.unsqueeze(2).to(words.dtype)
            sentence = (words * m).sum(1) / m.sum(1).clamp_min(1.0)
        else:  # max over the text's positions; an empty text (no position) gets zeros
            sentence = words.masked_fill(~mask.unsqueeze(2), float("-inf")).max(1).values
            sentence = torch.where(mask.any(1, keepdim=True), sentence, torch.zeros_like(sentence))
        return words, sentence, mask
