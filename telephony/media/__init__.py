"""Media: RTP, codecs, the shared media clock."""
