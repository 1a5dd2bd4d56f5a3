import os

# Set before NumPy loads (chat.search): a search multiplies one query by a team's vectors, a
# product one thread does as fast as two (it is bound by memory), and a second BLAS thread
# would only take the other core from the server and spin when the machine is busy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
