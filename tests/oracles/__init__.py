"""Independent references the tests compare the product with: torchvision's networks."""
