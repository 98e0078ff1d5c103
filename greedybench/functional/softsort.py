"""SoftSort (top-k rows). (stub)"""
def softsort(v, tau, k):
    raise NotImplementedError
