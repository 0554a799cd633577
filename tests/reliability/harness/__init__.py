"""What the reliability tests share: stores, a faulting proxy, worker processes, figures."""
