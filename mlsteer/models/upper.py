"""`UpperStack`: run layers L+1..N-1, the final norm and the unembedding from a given resid_post.

BiPO trains v through the layers above L only. Re-running layers 0..L every step would redo
work whose result never changes (v enters after them), so the trainer caches resid_post at L
once and calls this instead. The lower decoder layers are swapped, for the duration of one
call, for modules that pass the residual through, and block L for one that returns the given
residual; everything else (masks, rotary embeddings, sliding windows, the final norm) is the
HF model's own code, so it stays right for every family the bridge supports.
"""

from __future__ import annotations

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor, nn

from mlsteer.models.wrapper import SteerableModel


class _PassThrough(nn.Module):
    def forward(self, hidden_states: Tensor, *args, **kwargs) -> Tensor:
        return hidden_states


class _Inject(nn.Module):
    def __init__(self, resid: Tensor) -> None:
        super().__init__()
        self.resid = resid

    def forward(self, hidden_states: Tensor, *args, **kwargs) -> Tensor:
        # fp32 residuals (and v) into the model's dtype and device; gradients flow back through the cast
        return self.resid.to(device=hidden_states.device, dtype=hidden_states.dtype)


class UpperStack:
    """The part of ``model`` above ``layer``, as a differentiable function of resid_post at ``layer``.

    Model weights are frozen while it runs: gradients flow to the residual (and so to a
    steering vector added to it), never into the weights.
    """

    def __init__(self, model: SteerableModel, layer: int) -> None:
        self.model = model
        self.layer = model.check_layer(layer)
        hf_model = model.bridge.original_model
        self._decoder = hf_model.get_decoder()
        for parameter in hf_model.parameters():
            parameter.requires_grad_(False)

    def final_hidden(
        self,
        input_ids: Int[Tensor, "batch pos"],
        attention_mask: Int[Tensor, "batch pos"],
        resid: Float[Tensor, "batch pos d_model"],
    ) -> Float[Tensor, "batch pos d_model"]:
        """Final-norm hidden states when block ``layer`` outputs ``resid``."""
        layers = self._decoder.layers
        originals = [layers[i] for i in range(self.layer + 1)]
        try:
            for i in range(self.layer):
                layers[i] = _PassThrough()
            layers[self.layer] = _Inject(resid)
            device = (
                self.model.device
            )  # the embedding's: accelerate moves activations on from there
            output = self._decoder(
                input_ids=input_ids.to(device),
                attention_mask=attention_mask.to(device),
                use_cache=False,
            )
        finally:
            for i, module in enumerate(originals):
                layers[i] = module
        return output.last_hidden_state

    def completion_logprobs(
        self,
        input_ids: Int[Tensor, "batch pos"],
        attention_mask: Int[Tensor, "batch pos"],
        resid: Float[Tensor, "batch pos d_model"],
        completion_mask: Bool[Tensor, "batch pos"],
    ) -> Float[Tensor, " batch"]:
        """Per row, the summed log-probability of the tokens marked in ``completion_mask``.

        The unembedding runs only at the positions that predict a completion token: on a
        262k vocabulary it costs more than all the blocks, so prompt positions are skipped.
        """
        hidden = self.final_hidden(input_ids, attention_mask, resid)
        rows, cols = completion_mask[:, 1:].nonzero(as_tuple=True)  # position t-1 predicts token t
        logits = self.model.unembed(hidden[rows.to(hidden.device), cols.to(hidden.device)])
        targets = input_ids[rows, cols + 1].unsqueeze(-1).to(logits.device)
        token_logprobs = logits.log_softmax(dim=-1).gather(-1, targets)[:, 0]
        # back on the device of the inputs (BiPO's vector and reference log-probs)
        return torch.zeros(
            input_ids.shape[0], dtype=token_logprobs.dtype, device=resid.device
        ).index_add(0, rows.to(resid.device), token_logprobs.to(resid.device))
