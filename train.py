"""Train and test an LSTM text classifier: `python train.py model=bilstm_attn` (see README)."""

from lstmlab.runs.train import main

if __name__ == "__main__":
    main()
