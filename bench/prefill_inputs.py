"""The latency benches' model and inputs: MiniLM on one padded sentence, SmolLM2-135M on one prefill window."""


def prefill_inputs(name: str, seq: int):
    """(model, input tuple) for 'minilm' or 'smollm2' at `seq` tokens of the default text."""
    from qcomp.evaluate import default_text, encoder_batches, token_windows
    from qcomp.models import minilm, smollm2

    if name == "minilm":
        model, tok = minilm()
        return model, tuple(encoder_batches(tok, default_text(), 1, seq)[0])
    model, tok = smollm2()
    wins, _ = token_windows(tok, default_text(), 1, seq)
    return model, (wins[0],)
