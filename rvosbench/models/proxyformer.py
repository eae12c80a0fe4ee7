"""ProxyFormer: referring video object segmentation with cross-modality proxy queries (arXiv 2511.21139).

Built from the authors' Figure 2 (``shared/reference/proxyformer_fig2_architecture.png``) and
paper.md §2–6. Per-frame proxy queries Q ∈ R^{T×N×C} and the video features F_v ∈ R^{T×L×C} (L tokens
per frame, the backbone's multi-scale levels flattened) are updated together by K stacked
Cross-Modal Interaction Encoding (CMIE) stages. Stage k:

* **Proxy Conditioned Video Encoding** (figure's blue block):
  ``X = Linear(F^{k-1})``; ``X̂ = Norm(X + MHSA_s(X)) + Norm(X + MHSA_t(X))``;
  ``F^k = Norm(X̂ + P2V_s(X̂, Q^{k-1})) + Norm(X̂ + P2V_t(X̂, Q^{k-1}))``.
* **Video-Text Conditioned Proxy Encoding** (yellow block):
  ``P = Linear(Q^{k-1})``, ``E = Linear(F_t)``; ``P̂ = Norm(P + T2P(P, E))``;
  ``Q^k = Norm(P̂ + V2P_s(P̂, F^{k-1})) + Norm(P̂ + V2P_t(P̂, F^{k-1}))``.
* Both blocks read the stage k−1 tensors (the V2P keys are F^{k-1} tapped before the Linear, as drawn).

Q^K goes straight to the prediction heads (no separate decoder is drawn): a mask decoder (FPN over F^K
and the backbone's fine map), a dynamic kernel head and a reference head. JSC is a training-only
loss on Q^K.

Choices where the paper is silent (paper.md's [INF] notes), and why:

* **Spatial** attention is frame-local: MHSA_s over the L tokens of a frame; P2V_s: a frame's tokens
  attend to that frame's N proxies; V2P_s: a frame's proxies attend to that frame's L tokens.
* **Temporal** attention runs along time and costs O(T) per token, never O(T·L):
  MHSA_t: each token position attends to itself in the T frames (axial, paper.md §3.1);
  P2V_t: every video token attends to the N proxy *tracks* (each slot's proxies averaged over the T
  frames), so a frame's pixels see what each slot is in the whole clip;
  V2P_t: proxy (t, n) attends along time to slot n's view of every frame (the frame's tokens pooled by
  slot n's query there, positions included), so a proxy can compare where its object is over time
  (paper.md §3.3 lists mean-pooled frame summaries as option a; measured on synth, motion expressions
  need the per-slot views). Both proxy temporal paths are the proxies' cross-frame links. With these
  choices the decoupled attention cost is O(T·L² + L·T² + T·L·N + N·T²): linear in T while T ≪ L,
  against O(T²·L²) for the coupled form (measured by ``rvosbench bench attention``).
* **Switches** (the ablations; each changes one factor, tests/models/test_switches.py proves it, and
  ``rvosbench bench variants`` prints what each costs and which paths it leaves):

  * ``propagate_proxies: false``: every stage starts again from Q^0 instead of Q^{k-1} (both blocks
    read Q^0). Same modules, same parameters.
  * ``proxy_temporal: false``: the proxies' frame-to-frame paths stay in their own frame: P2V_t
    attends to the proxies of the token's frame instead of the clip's proxy tracks, and V2P_t to the
    proxy's own view only (a frame mask). Same modules, same parameters. Frame-to-frame information
    still reaches the proxies from stage 2 on through the video's own temporal self-attention (MHSA_t).
  * ``video_temporal: false``: MHSA_t keeps each token to its own frame. With ``proxy_temporal: false``
    nothing crosses frames at all: a time-blind model of the same size (``proxyformer.frame_local``).
  * ``attention: coupled`` (the ablation the paper argues against): one full spatio-temporal attention
    in place of each decoupled pair: MHSA over all T·L tokens, P2V where every token attends to all T·N
    proxies, V2P where every proxy attends to all T·L tokens. Each pair keeps both residual branches and
    both norms, ``Norm_s(x + A) + Norm_t(x + A)``, and the FFN and proxy blocks stay; the pairs' second
    attentions (and V2P_t's pooling) are gone, so it has fewer parameters.
  * ``attention: coupled_pair``: its parameter-matched control: both attentions of every pair span all
    frames and positions (V2P_t pools each view from the whole clip). Same parameters as ProxyFormer.
  * In the coupled forms the temporal switches are frame masks on the full attentions.
* Q^0[t, n] = slot embedding e_n + sine temporal encoding τ_t + projected sentence feature (paper.md §3.4).
  Temporal encodings use the position within the clip (t / T), so a model trained on 5-frame clips
  meets familiar values on a 36-frame evaluation window.
* Positional encodings (not drawn): 2-D sine + level embedding on video tokens, sine over time for the
  temporal branches, 1-D sine on words, as ReferFormer does. Optional FFN after each block
  (``ffn_dim``; 0 = none, as drawn).
* Auxiliary losses on every intermediate Q^k through the shared heads (ReferFormer's ``aux_loss``).
* Box centres (``token_centres``, off by default): the figure does not say how boxes are predicted.
  Off, an MLP regresses cxcywh from Q^K (ReferFormer). On, the centre of proxy (t, n) is a soft-arg-max
  of its similarity to the stride-8 tokens of F^k (:class:`~rvosbench.models.heads.TokenLocator`),
  trained by a cross-entropy against the referred mask (``loss.loc``); width and height stay regressed.
  The dynamic mask head measures its relative coordinates from that centre. The CPU card turns it on:
  it is what makes relation expressions learnable in the CPU budget (docs/models.md).
* **JSC** (paper.md §6.2 option B): the matched slot's track embedding p = MLP(mean_t Q^K[t, n*]) and a
  joint video-text embedding j = MLP([F^K pooled under the target mask over visible frames ; sentence])
  are aligned by a symmetric InfoNCE with temperature τ: p→j over the clips of the batch, and j→p over
  all proxy tracks of the batch, so the same clip's unmatched slots are extra negatives (which also
  gives a signal at batch size 1). Gradients flow into both sides: the joint branch has its own
  projection, which a stop-gradient would leave untrained.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import NonNegativeFloat, PositiveFloat, PositiveInt
from torch import nn

from rvosbench.core.errors import ConfigError
from rvosbench.core.registry import MODELS
from rvosbench.core.schema import derive_schema
from rvosbench.models.heads import MaskDecoder, QueryHeads, TokenLocator
from rvosbench.models.layers import (MLP, FeedForward, LevelTokens, ResidualAttention, sine_encoding_1d,
                                     temporal_encoding, text_projection, tokens_to_maps)
from rvosbench.models.criterion import LossConfig
from rvosbench.models.query_model import LossRules, QueryModelRules, QueryRVOSModel

ATTENTION_MODES = ("decoupled", "coupled", "coupled_pair")


def same_frame_mask(T: int, queries_per_frame: int, keys_per_frame: int, device: torch.device) -> torch.Tensor:
    """Boolean attention mask (True = blocked) keeping each query to the keys of its own frame."""
    q_frame = torch.arange(T, device=device).repeat_interleave(queries_per_frame)
    k_frame = torch.arange(T, device=device).repeat_interleave(keys_per_frame)
    return q_frame[:, None] != k_frame[None, :]


class Geometry:
    """Shapes and positional encodings of one forward pass (shared by every stage)."""

    def __init__(self, B: int, T: int, N: int, spatial: torch.Tensor):
        self.B, self.T, self.N = B, T, N
        self.L, dim = spatial.shape
        self.spatial = spatial  # (L, C)
        self.temporal = temporal_encoding(T, dim, spatial.device)  # (T, C)
        self.spatio_temporal = (self.temporal[:, None] + self.spatial[None]).reshape(T * self.L, dim)

    def own_frame(self, queries_per_frame: int, keys_per_frame: int, blocked: bool = True) -> torch.Tensor | None:
        """:func:`same_frame_mask` over this clip, or None (nothing blocked) when ``blocked`` is False."""
        return same_frame_mask(self.T, queries_per_frame, keys_per_frame, self.spatial.device) if blocked else None


def full_pair(a: ResidualAttention, b: ResidualAttention, mode: str, x: torch.Tensor,
              b_update: Callable[[], torch.Tensor] | None = None, **attend_args: Any) -> torch.Tensor:
    """One decoupled pair of Fig. 2 in a coupled form: ``Norm_a(x + A_a) + Norm_b(x + A_b)`` where the
    attentions span every frame and position (the caller passes those keys and any frame mask).

    * ``coupled``: one full spatio-temporal attention replaces the pair: A_b = A_a. Residuals, both norms
      and the sum stay; branch b has no attention parameters (``b.attn`` is None).
    * ``coupled_pair``: the parameter-matched control: both attentions stay, each spanning everything.
      ``b_update`` gives branch b's own update when it is not ``b.attend`` over the same keys.
    """
    update_a = a.attend(x, **attend_args)
    if mode == "coupled":
        update_b = update_a
    else:
        update_b = b_update() if b_update is not None else b.attend(x, **attend_args)
    return a.residual(x, update_a) + b.residual(x, update_b)


def branch_pair(dim: int, heads: int, dropout: float, mode: str,
                b_factory: Callable[[], ResidualAttention] | None = None) -> tuple[ResidualAttention, ResidualAttention]:
    """Branch a (always with attention) and branch b (its own attention unless ``coupled``)."""
    a = ResidualAttention(dim, heads, dropout)
    if mode == "coupled":
        return a, ResidualAttention(dim, heads, dropout, attend=False)
    return a, (b_factory() if b_factory is not None else ResidualAttention(dim, heads, dropout))


class ProxyConditionedVideoEncoding(nn.Module):
    """The blue block of Fig. 2: video self-attention, then proxy-to-video cross-attention.

    ``video_temporal=False`` keeps the video's temporal self-attention to each token's own frame (the
    same modules, a frame mask); ``proxy_temporal=False`` keeps the proxy-to-video temporal branch to
    the proxies of the token's own frame.
    """

    def __init__(self, dim: int, heads: int, mode: str, proxy_temporal: bool, video_temporal: bool, ffn_dim: int,
                 dropout: float):
        super().__init__()
        self.mode, self.proxy_temporal, self.video_temporal = mode, proxy_temporal, video_temporal
        self.linear = nn.Linear(dim, dim)
        self.self_spatial, self.self_temporal = branch_pair(dim, heads, dropout, mode)
        self.p2v_spatial, self.p2v_temporal = branch_pair(dim, heads, dropout, mode)
        self.ffn = FeedForward(dim, ffn_dim, dropout) if ffn_dim else None

    def self_attention(self, x: torch.Tensor, g: Geometry) -> torch.Tensor:
        """X̂ from X (B, T, L, C): ``Norm(X + MHSA_s) + Norm(X + MHSA_t)``, or the coupled forms."""
        B, T, L, C = x.shape
        if self.mode != "decoupled":
            out = full_pair(self.self_spatial, self.self_temporal, self.mode, x.reshape(B, T * L, C),
                            pos_q=g.spatio_temporal, pos_k=g.spatio_temporal,
                            mask=g.own_frame(L, L, blocked=not self.video_temporal))
            return out.reshape(B, T, L, C)
        spatial = self.self_spatial(x.reshape(B * T, L, C), pos_q=g.spatial, pos_k=g.spatial)
        by_position = x.transpose(1, 2).reshape(B * L, T, C)
        temporal = self.self_temporal(by_position, pos_q=g.temporal, pos_k=g.temporal,
                                      mask=g.own_frame(1, 1, blocked=not self.video_temporal))
        return spatial.reshape(B, T, L, C) + temporal.reshape(B, L, T, C).transpose(1, 2)

    def proxy_to_video(self, x_hat: torch.Tensor, proxies: torch.Tensor, g: Geometry) -> torch.Tensor:
        """F^k from X̂ (B, T, L, C) and the proxies (B, T, N, C): P2V spatial + temporal, or the coupled forms."""
        B, T, L, C = x_hat.shape
        flat, all_proxies = x_hat.reshape(B, T * L, C), proxies.reshape(B, T * g.N, C)
        cross_frame = g.own_frame(L, g.N, blocked=not self.proxy_temporal)
        if self.mode != "decoupled":
            return full_pair(self.p2v_spatial, self.p2v_temporal, self.mode, flat, kv=all_proxies,
                             pos_q=g.spatio_temporal, mask=cross_frame).reshape(B, T, L, C)
        spatial = self.p2v_spatial(x_hat.reshape(B * T, L, C), kv=proxies.reshape(B * T, g.N, C), pos_q=g.spatial)
        if self.proxy_temporal:  # every token attends to the N proxy tracks (each slot over the whole clip)
            temporal = self.p2v_temporal(flat, kv=proxies.mean(1), pos_q=g.spatio_temporal)
        else:  # the same branch, kept to the proxies of the token's own frame
            temporal = self.p2v_temporal(flat, kv=all_proxies, pos_q=g.spatio_temporal, mask=cross_frame)
        return spatial.reshape(B, T, L, C) + temporal.reshape(B, T, L, C)

    def forward(self, video: torch.Tensor, proxies: torch.Tensor, g: Geometry) -> torch.Tensor:
        """video F^{k-1} (B, T, L, C), proxies Q^{k-1} (B, T, N, C) → F^k (B, T, L, C)."""
        out = self.proxy_to_video(self.self_attention(self.linear(video), g), proxies, g)
        return self.ffn(out) if self.ffn is not None else out


class TemporalVideoToProxy(ResidualAttention):
    """V2P temporal: proxy (t, n) attends along time to what slot n sees in every frame.

    Slot n's view of frame t' is that frame's tokens pooled by attention with slot n's query at t';
    the pooled values carry the tokens' positions, so a view says what the slot's object looks like and
    where it is. The proxy then attends over the T views of its own slot (temporal encodings on both
    sides), which is how it learns e.g. which way its object moves. Cost O(T·N·L + N·T²): linear in T.

    ``own_frame=True`` (``proxy_temporal: false``) keeps the proxy to its own frame's view.
    ``span="clip"`` (the ``coupled_pair`` control) pools each view from all T·L tokens of the clip, their
    spatio-temporal positions in the values, so every view reaches every frame and position.
    """

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__(dim, heads, dropout)
        self.pool = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)

    def attend(self, proxies: torch.Tensor, video: torch.Tensor, g: Geometry, own_frame: bool = False,
               span: str = "frame") -> torch.Tensor:
        """proxies (B, T, N, C), video (B, T, L, C) → the update of every proxy (B, T, N, C)."""
        B, T, N, C = proxies.shape
        if span == "frame":
            tokens = (video + g.spatial).reshape(B * T, g.L, C)
            views = self.pool(proxies.reshape(B * T, N, C), tokens, tokens, need_weights=False)[0]
        else:
            tokens = video.reshape(B, T * g.L, C) + g.spatio_temporal
            views = self.pool(proxies.reshape(B, T * N, C), tokens, tokens, need_weights=False)[0]
        by_slot = proxies.transpose(1, 2).reshape(B * N, T, C)
        views = views.reshape(B, T, N, C).transpose(1, 2).reshape(B * N, T, C)
        out = super().attend(by_slot, kv=views, pos_q=g.temporal, pos_k=g.temporal,
                             mask=g.own_frame(1, 1, blocked=own_frame))
        return out.reshape(B, N, T, C).transpose(1, 2)

    def forward(self, proxies: torch.Tensor, video: torch.Tensor, g: Geometry, own_frame: bool = False
                ) -> torch.Tensor:
        return self.residual(proxies, self.attend(proxies, video, g, own_frame))


class VideoTextConditionedProxyEncoding(nn.Module):
    """The yellow block of Fig. 2: text-to-proxy, then video-to-proxy cross-attention.

    ``proxy_temporal=False`` keeps the video-to-proxy temporal branch to the proxy's own frame (the same
    modules, a frame mask).
    """

    def __init__(self, dim: int, heads: int, mode: str, proxy_temporal: bool, ffn_dim: int, dropout: float):
        super().__init__()
        self.mode, self.proxy_temporal = mode, proxy_temporal
        self.linear_proxy = nn.Linear(dim, dim)
        self.linear_text = nn.Linear(dim, dim)
        self.t2p = ResidualAttention(dim, heads, dropout)
        self.v2p_spatial, self.v2p_temporal = branch_pair(dim, heads, dropout, mode,
                                                          lambda: TemporalVideoToProxy(dim, heads, dropout))
        self.ffn = FeedForward(dim, ffn_dim, dropout) if ffn_dim else None

    def forward(self, proxies: torch.Tensor, words: torch.Tensor, word_pos: torch.Tensor,
                word_pad: torch.Tensor, video: torch.Tensor, g: Geometry) -> torch.Tensor:
        """proxies (B, T, N, C), words (B, W, C), video F^{k-1} (B, T, L, C) → Q^k (B, T, N, C)."""
        B, T, N, C = proxies.shape
        p = self.linear_proxy(proxies).reshape(B, T * N, C)
        p = self.t2p(p, kv=self.linear_text(words), pos_k=word_pos, key_padding_mask=word_pad)
        own_frame = not self.proxy_temporal
        if self.mode == "decoupled":
            out = self.v2p_spatial(p.reshape(B * T, N, C), kv=video.reshape(B * T, g.L, C),
                                   pos_k=g.spatial).reshape(B, T, N, C)
            out = out + self.v2p_temporal(p.reshape(B, T, N, C), video, g, own_frame)
        else:
            def own_update() -> torch.Tensor:  # coupled_pair: the temporal branch keeps its pooled views
                span = "frame" if own_frame else "clip"
                update = self.v2p_temporal.attend(p.reshape(B, T, N, C), video, g, own_frame, span)
                return update.reshape(B, T * N, C)

            out = full_pair(self.v2p_spatial, self.v2p_temporal, self.mode, p, b_update=own_update,
                            kv=video.reshape(B, T * g.L, C), pos_k=g.spatio_temporal,
                            mask=g.own_frame(N, g.L, blocked=own_frame)).reshape(B, T, N, C)
        return self.ffn(out) if self.ffn is not None else out


class CMIEStage(nn.Module):
    """One Cross-Modal Interaction Encoding stage; both blocks read the stage k−1 tensors."""

    def __init__(self, dim: int, heads: int, mode: str = "decoupled", proxy_temporal: bool = True,
                 video_temporal: bool = True, ffn_dim: int = 0, dropout: float = 0.0):
        super().__init__()
        self.video_block = ProxyConditionedVideoEncoding(dim, heads, mode, proxy_temporal, video_temporal, ffn_dim,
                                                         dropout)
        self.proxy_block = VideoTextConditionedProxyEncoding(dim, heads, mode, proxy_temporal, ffn_dim, dropout)

    def forward(self, video, proxies, words, word_pos, word_pad, g: Geometry):
        new_video = self.video_block(video, proxies, g)
        new_proxies = self.proxy_block(proxies, words, word_pos, word_pad, video, g)
        return new_video, new_proxies


class JointSemanticConsistency(nn.Module):
    """JSC: symmetric InfoNCE between matched proxy tracks and joint video-text embeddings (training only)."""

    def __init__(self, dim: int, temperature: float):
        super().__init__()
        if temperature <= 0:
            raise ConfigError(f"jsc_temperature must be > 0, got {temperature}", where="model.loss.jsc_temperature")
        self.temperature = temperature
        self.proxy_proj = MLP(dim, dim, dim, 2)
        self.joint_proj = MLP(2 * dim, dim, dim, 2)

    def forward(self, proxies: torch.Tensor, video_map: torch.Tensor, sentence: torch.Tensor,
                masks: torch.Tensor, valid: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
        """proxies (B, T, N, C); video_map (B, T, C, h, w); sentence (B, C); masks (B, T, H, W) → loss."""
        B, T, N, C = proxies.shape
        h, w = video_map.shape[-2:]
        weights = F.adaptive_avg_pool2d(masks.float().flatten(0, 1).unsqueeze(1), (h, w)).reshape(B, T, 1, h, w)
        weights = weights * valid.float().reshape(B, T, 1, 1, 1)
        mass = weights.sum((1, 2, 3, 4))
        keep = mass > 0  # clips whose object is visible somewhere
        if not bool(keep.any()):
            return proxies.sum() * 0.0
        pooled = (video_map * weights).sum((1, 3, 4)) / mass.clamp(min=1e-6).unsqueeze(-1)  # (B, C)
        joint = F.normalize(self.joint_proj(torch.cat([pooled, sentence], -1)), dim=-1)[keep]
        tracks = F.normalize(self.proxy_proj(proxies.mean(1)), dim=-1)  # (B, N, C)
        matched = tracks[torch.arange(B, device=slots.device), slots][keep]  # (B', C)
        positives = (torch.arange(B, device=slots.device) * N + slots)[keep]  # index among all B·N tracks
        proxy_to_joint = matched @ joint.T / self.temperature
        joint_to_proxy = joint @ tracks.reshape(B * N, C).T / self.temperature
        target = torch.arange(joint.shape[0], device=joint.device)
        return 0.5 * (F.cross_entropy(proxy_to_joint, target) + F.cross_entropy(joint_to_proxy, positives))


class ProxyFormerLossRules(LossRules):
    """``model.loss`` of ProxyFormer: the set-loss weights plus JSC's weight and temperature."""

    jsc_weight: NonNegativeFloat = None  # type: ignore[assignment]  (absent: the constructor's default)
    jsc_temperature: PositiveFloat = None  # type: ignore[assignment]


class ProxyFormerRules(QueryModelRules):
    """ProxyFormer's keys on top of the query models' checks."""

    field_types = {"num_stages": PositiveInt, "num_proxies": PositiveInt, "attention": Literal[ATTENTION_MODES],
                   "loss": derive_schema(LossConfig, ProxyFormerLossRules, name="ProxyFormerLoss") | None}


@MODELS.register_module("proxyformer")
class ProxyFormer(QueryRVOSModel):
    """ProxyFormer: proxy queries propagated through decoupled spatio-temporal CMIE stages, with JSC.

    Args:
        backbone, text_encoder: encoder configs (see :class:`QueryRVOSModel`).
        hidden_dim: C. num_heads: attention heads. num_stages: K CMIE stages. num_proxies: N per frame.
        mask_dim: mask-feature channels. ffn_dim: FFN after each block (0 = none, as drawn).
        dropout: attention/FFN dropout.
        attention: ``decoupled`` (the paper), ``coupled`` (one full spatio-temporal attention per pair,
            the ablation) or ``coupled_pair`` (its parameter-matched control).
        propagate_proxies: carry Q^k into stage k+1 (the paper) or restart every stage from Q^0 (ablation).
        proxy_temporal: the proxies' frame-to-frame paths (P2V and V2P temporal branches) span the clip
            (the paper) or stay in their own frame (ablation); same modules either way.
        video_temporal: the video's temporal self-attention spans the clip (the paper) or stays in each
            token's own frame; with ``proxy_temporal: false`` too, nothing crosses frames (a time-blind
            model of the same size).
        aux_loss: auxiliary losses on intermediate stages.
        dynamic_layers, dynamic_channels: the dynamic kernel head's tiny network.
        fine_dim: channels of the mask decoder's finest level (default C; see :class:`MaskDecoder`).
        token_centres: box centres from a soft-arg-max over the finest encoder tokens (see above).
        loss: set-loss weights plus ``jsc_weight`` (0 disables JSC) and ``jsc_temperature``.

    Besides the contract's outputs, ``forward`` returns ``stage_inputs`` (the proxies each stage read,
    for inspecting propagation) and, when training with JSC, ``jsc_inputs`` for ``loss``.
    """

    config_rules = ProxyFormerRules

    def __init__(self, backbone: dict | None = None, text_encoder: dict | None = None, hidden_dim: int = 256,
                 num_heads: int = 8, num_stages: int = 4, num_proxies: int = 5, mask_dim: int = 8,
                 ffn_dim: int = 0, dropout: float = 0.0, attention: str = "decoupled",
                 propagate_proxies: bool = True, proxy_temporal: bool = True, video_temporal: bool = True,
                 aux_loss: bool = True, dynamic_layers: int = 3,
                 dynamic_channels: int = 8, fine_dim: int | None = None, token_centres: bool = False,
                 loss: dict | None = None):
        loss = dict(loss or {})
        jsc_weight = float(loss.pop("jsc_weight", 1.0))
        jsc_temperature = float(loss.pop("jsc_temperature", 0.07))
        super().__init__(backbone, text_encoder, loss)
        if attention not in ATTENTION_MODES:
            raise ConfigError(f"unknown attention mode '{attention}'", where="model.attention",
                              hint=f"one of: {', '.join(ATTENTION_MODES)}")
        if num_stages < 1 or num_proxies < 1:
            raise ConfigError("num_stages and num_proxies must be >= 1", where="model")
        C = hidden_dim
        self.attention, self.propagate_proxies, self.aux_loss = attention, bool(propagate_proxies), aux_loss
        self.num_proxies, self.jsc_weight = num_proxies, jsc_weight
        levels = self.backbone.channels[1:]
        self.input_tokens = LevelTokens(levels, C)
        self.text_proj = text_projection(self.text_encoder.channels, C)
        self.slot_embed = nn.Embedding(num_proxies, C)
        self.proxy_temporal, self.video_temporal = bool(proxy_temporal), bool(video_temporal)
        self.stages = nn.ModuleList(CMIEStage(C, num_heads, attention, self.proxy_temporal, self.video_temporal,
                                              ffn_dim, dropout) for _ in range(num_stages))
        self.mask_decoder = MaskDecoder(C, self.backbone.channels[0], mask_dim, len(levels), fine_dim)
        self.heads = QueryHeads(C, mask_dim, dynamic_layers, dynamic_channels, rel_coords=True)
        self.locator = TokenLocator(C) if token_centres else None
        self.jsc = JointSemanticConsistency(C, jsc_temperature) if jsc_weight > 0 else None

    def initial_proxies(self, sentence: torch.Tensor, g: Geometry) -> torch.Tensor:
        """Q^0 (B, T, N, C) = slot embedding + temporal encoding + sentence feature."""
        q0 = self.slot_embed.weight[None, None] + g.temporal[None, :, None] + sentence[:, None, None]
        return q0.expand(g.B, g.T, g.N, -1)

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        frames = batch["frames"]
        B, T = frames.shape[:2]
        maps = self.encode_video(frames)
        text = self.encode_text(batch["text"])
        words = self.text_proj(text.words)
        sentence = self.text_proj(text.sentence)
        video, sizes, spatial_pos = self.input_tokens(maps[1:], B, T)
        g = Geometry(B, T, self.num_proxies, spatial_pos)
        word_pos = sine_encoding_1d(torch.arange(words.shape[1], device=words.device), words.shape[-1])

        q0 = self.initial_proxies(sentence, g)
        proxies, stage_proxies, stage_videos, stage_inputs = q0, [], [], []
        for stage in self.stages:
            stage_input = proxies if self.propagate_proxies else q0
            stage_inputs.append(stage_input)
            video, proxies = stage(video, stage_input, words, word_pos, text.pad_mask, g)
            stage_proxies.append(proxies)
            stage_videos.append(video)

        video_maps = tokens_to_maps(video, sizes)
        mask_features = self.mask_decoder(video_maps, maps[0])
        mask_features = mask_features.reshape(B, T, *mask_features.shape[1:])
        finest = sizes[0]
        out = self.stage_outputs(stage_proxies[-1], stage_videos[-1], mask_features, g, finest)
        out["aux_outputs"] = ([self.stage_outputs(q, v, mask_features, g, finest)
                               for q, v in zip(stage_proxies[:-1], stage_videos[:-1])]
                              if self.aux_loss and self.training else [])
        out["stage_inputs"] = stage_inputs
        if self.training and self.jsc is not None:
            finest_map = video_maps[0]
            out["jsc_inputs"] = {"proxies": stage_proxies[-1], "sentence": sentence,
                                 "video_map": finest_map.reshape(B, T, *finest_map.shape[1:])}
        return out

    def stage_outputs(self, proxies: torch.Tensor, video: torch.Tensor, mask_features: torch.Tensor, g: Geometry,
                      finest: tuple[int, int]) -> dict[str, torch.Tensor]:
        """The heads on one stage's proxies Q^k; with ``token_centres`` the centres come from F^k's
        finest tokens (the first h·w of each frame) and their logits are output as ``pred_locations``."""
        if self.locator is None:
            return self.heads(proxies, mask_features)
        h, w = finest
        centres, locations = self.locator(proxies, video[:, :, : h * w] + g.spatial[: h * w], finest)
        out = self.heads(proxies, mask_features, centres)
        out["pred_locations"] = locations
        return out

    def loss(self, outputs: dict[str, Any], targets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        losses, slots = self.criterion(outputs, targets)
        if self.jsc is not None and "jsc_inputs" in outputs:
            jsc = outputs["jsc_inputs"]
            losses["loss_jsc"] = self.jsc_weight * self.jsc(jsc["proxies"], jsc["video_map"], jsc["sentence"],
                                                            targets["masks"], targets["valid"], slots)
        return losses


MODELS.register_variant("proxyformer.no_propagation", "proxyformer", {"propagate_proxies": False},
                        "ProxyFormer ablation: every stage restarts from Q^0 (same modules and parameters)")
MODELS.register_variant("proxyformer.no_proxy_temporal", "proxyformer", {"proxy_temporal": False},
                        "ProxyFormer ablation: the proxies' temporal branches stay in their own frame")
MODELS.register_variant("proxyformer.frame_local", "proxyformer", {"proxy_temporal": False, "video_temporal": False},
                        "ProxyFormer reference: no attention crosses frames (time-blind, same parameters)")
MODELS.register_variant("proxyformer.coupled_attention", "proxyformer", {"attention": "coupled"},
                        "ProxyFormer ablation: one full spatio-temporal attention in place of each decoupled pair")
MODELS.register_variant("proxyformer.coupled_pair", "proxyformer", {"attention": "coupled_pair"},
                        "ProxyFormer control: coupled attention with both attentions of each pair (parameter-matched)")
MODELS.register_variant("proxyformer.no_jsc", "proxyformer", {"loss": {"jsc_weight": 0}},
                        "ProxyFormer ablation: without the Joint Semantic Consistency loss")
