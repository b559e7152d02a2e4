@_exported import BerthSpec
